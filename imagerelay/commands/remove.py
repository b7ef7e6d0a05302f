"""`imagerelay remove`: tear down what setup created for an inventory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from imagerelay.arm_access import ArmAccess
from imagerelay.commands import fail, make_console
from imagerelay.commands.setup import plan_table, summary
from imagerelay.commands.tier0 import run_inventory
from imagerelay.inventory import Inventory
from imagerelay.limits import planned_limits
from imagerelay.provision_plan import Step, azure_spec
from imagerelay.provision_remove import apply_removal, plan_removal
from imagerelay.settings import get_settings

console = make_console()


async def _access() -> ArmAccess:
    from tasks.provision import arm_access

    return await arm_access()


async def _plan(plan: Inventory) -> tuple[list[Step], list[Step]]:
    from tasks.provision_prefect import plan_prefect_removal

    settings = get_settings()
    access = await _access()
    async with access.credential:
        azure = await plan_removal(access, azure_spec(plan))
    prefect = await plan_prefect_removal(settings, list(planned_limits(plan, settings)))
    return azure, prefect


async def _apply(plan: Inventory, azure: list[Step], prefect: list[Step]) -> None:
    from tasks.provision_prefect import apply_prefect_removal

    access = await _access()
    async with access.credential:
        await apply_removal(access, azure_spec(plan), azure)
    await apply_prefect_removal(prefect)


def remove(
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for the typed confirmation.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; delete nothing.")
    ] = False,
    inventory: Annotated[
        Path | None,
        typer.Option(help="Inventory file; the inventory block or file if unset."),
    ] = None,
) -> None:
    """Delete what setup created for the inventory, after confirmation.

    Images, storage accounts, resource groups, limits and blocks carrying setup's
    tag go; anything without it stays.
    """
    plan = run_inventory(inventory)
    azure, prefect = asyncio.run(_plan(plan))
    steps = azure + prefect
    console.print(plan_table(steps, "Remove plan"))
    console.print(summary(steps) or "nothing to remove")
    doomed = [step for step in steps if step.action == "delete"]
    if dry_run or not doomed:
        return

    word = plan.tier0.storage_account
    if not yes:
        try:
            typed = typer.prompt(
                f"This deletes {len(doomed)} resources and the blobs in them. "
                f"Type the tier-0 account name ({word}) to go on"
            )
        except typer.Abort:
            fail(
                "no confirmation was typed (input ended): nothing was removed; "
                "pass --yes to remove without asking"
            )
        if typed.strip() != word:
            fail(f"you typed {typed.strip()!r}, not {word!r}: nothing was removed")
    asyncio.run(_apply(plan, azure, prefect))
    console.print(f"removed {len(doomed)} resources")
