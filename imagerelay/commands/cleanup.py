"""`imagerelay cleanup`: run the cleanup flow here and print what went."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from imagerelay.cleanup import CleanupRefused, Deletion, check_filters
from imagerelay.commands import fail, make_console
from imagerelay.commands.tier0 import require_prefect, run_inventory, ui_url
from imagerelay.settings import get_settings

console = make_console()

EXIT_DELETIONS_FAILED = 1


def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; delete nothing.")
    ] = False,
    release: Annotated[
        str | None,
        typer.Option(help="Only this release; refused unless it is complete."),
    ] = None,
    image_name: Annotated[str | None, typer.Option(help="Only this image.")] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Images kept per target and image name; "
            "IMAGERELAY_CLEANUP_KEEP_IMAGES if unset.",
        ),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(help="Inventory file; the inventory block or file if unset."),
    ] = None,
) -> None:
    """Delete completed releases' VHDs and images past retention.

    VHDs go when IMAGERELAY_CLEANUP_TIER1 or _TIER2 is true.
    Images go beyond the newest --keep (IMAGERELAY_CLEANUP_KEEP_IMAGES) per target.

    Runs the cleanup flow in this process, so the run, its logs and its artifact
    are in the Prefect UI; exits 1 when a deletion failed.
    """
    try:
        check_filters(release, image_name)
    except CleanupRefused as exc:
        fail(str(exc))
    run_inventory(inventory)
    require_prefect()
    state, found = asyncio.run(
        _run(release, image_name, keep, dry_run, str(inventory) if inventory else None)
    )
    if not isinstance(found, list):
        fail(state.message or str(found))
    table = Table("kind", "release", "image", "where", "why")
    for deletion in found:
        table.add_row(
            deletion.kind.value,
            deletion.release,
            deletion.image_name,
            deletion.where,
            deletion.reason,
        )
    if found:
        console.print(table)
    console.print(state.message)
    run_id = state.state_details.flow_run_id
    console.print(f"Run: {ui_url(get_settings())}/runs/flow-run/{run_id}")
    if state.is_failed():
        raise typer.Exit(EXIT_DELETIONS_FAILED)


async def _run(
    release: str | None,
    image_name: str | None,
    keep: int | None,
    dry_run: bool,
    inventory: str | None,
) -> tuple[Any, list[Deletion] | BaseException]:
    from flows.cleanup import cleanup_flow

    state = await cleanup_flow(
        release_id=release,
        image_name=image_name,
        keep=keep,
        dry_run=dry_run,
        inventory=inventory,
        return_state=True,
    )
    found: Any = await state.aresult(raise_on_failure=False)
    return state, found
