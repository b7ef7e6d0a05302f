"""`imagerelay setup`: provision what releases need, or print the plan."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from imagerelay.commands import fail, make_console
from imagerelay.commands.tier0 import run_inventory
from imagerelay.provision_plan import Step

console = make_console()

STYLES = {
    "create": "green",
    "update": "yellow",
    "keep": "dim",
    "refuse": "red",
    "delete": "red",
}


def plan_table(steps: list[Step], title: str) -> Table:
    """One row per resource: kind, name, where, action and why."""
    table = Table("kind", "name", "where", "action", "detail", title=title)
    for step in steps:
        style = STYLES.get(step.action, "")
        table.add_row(
            step.kind,
            step.name,
            step.where,
            f"[{style}]{step.action}[/{style}]",
            step.detail,
        )
    return table


def summary(steps: list[Step]) -> str:
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.action] = counts.get(step.action, 0) + 1
    return ", ".join(f"{count} {action}" for action, count in counts.items())


def setup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    inventory: Annotated[
        Path | None,
        typer.Option(help="Inventory file; the inventory block or file if unset."),
    ] = None,
) -> None:
    """Provision the inventory: groups, accounts, containers, limits, blocks, pool.

    Creates or updates each resource idempotently by running the setup flow.
    """
    from flows.setup import setup_flow  # Prefect only when the command runs

    run_inventory(inventory)  # a broken inventory: one line, before any run starts

    async def run() -> Any:
        return await setup_flow(
            inventory=str(inventory) if inventory else None,
            dry_run=dry_run,
            return_state=True,
        )

    state = asyncio.run(run())
    if not state.is_completed():
        fail(f"setup failed: {state.message}")
    report = state.result()
    title = "Setup plan (dry run: nothing changed)" if dry_run else "Setup"
    console.print(plan_table(report.steps, title))
    console.print(summary(report.steps))
