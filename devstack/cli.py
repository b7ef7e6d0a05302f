"""`imagerelay stack up | down | status`: the local stack from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from azure.core.exceptions import AzureError
from rich.markup import escape
from rich.table import Table

from devstack import stack
from devstack.faults.profile import load_profile
from devstack.processes import StackError
from imagerelay.commands import make_console
from imagerelay.inventory import InventoryError

app = typer.Typer(help="Run the local stack: Azurite, the ARM emulator, Prefect.")
console = make_console()

StateDir = Annotated[
    Path,
    typer.Option(help="Folder holding the stack's data, logs and keys."),
]


@app.command()
def up(
    inventory: Annotated[
        Path, typer.Option(help="Inventory whose accounts the stack serves.")
    ] = Path("inventories/demo.yaml"),
    state_dir: StateDir = stack.DEFAULT_STATE_DIR,
    worker: Annotated[bool, typer.Option(help="Start a Prefect worker.")] = True,
    faults: Annotated[
        Path | None,
        typer.Option(
            help="Fault profile YAML (devstack/faults/profile.py): slow and failing "
            "copies, 429/503/500/dropped requests, failing images.",
        ),
    ] = None,
) -> None:
    """Start the stack (each service only if it is not running yet)."""
    started = time.monotonic()
    try:
        profile = load_profile(faults) if faults is not None else None
        config = stack.up(state_dir, inventory, worker=worker, faults=profile)
    except (StackError, InventoryError, AzureError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(
        f"stack up in {time.monotonic() - started:.1f} s: "
        f"{len(config.accounts)} storage accounts, Prefect UI "
        f"{config.prefect_api_url[:-4]}"
    )
    _print_status(state_dir)


@app.command()
def down(state_dir: StateDir = stack.DEFAULT_STATE_DIR) -> None:
    """Stop every service; data stays in the state folder for the next `up`."""
    stopped = stack.down(state_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status(state_dir: StateDir = stack.DEFAULT_STATE_DIR) -> None:
    """Show each service, its URL and whether it answers."""
    if not _print_status(state_dir):
        raise typer.Exit(1)


def _print_status(state_dir: Path) -> bool:
    rows = stack.status(state_dir)
    if not rows:
        console.print("no stack here; start one with `imagerelay stack up`")
        return False
    table = Table("service", "pid", "state", "url")
    for row in rows:
        state = "[green]up[/green]" if row.listening else "[red]down[/red]"
        table.add_row(row.name, str(row.pid or "-"), state, row.url)
    console.print(table)
    return all(row.listening for row in rows)
