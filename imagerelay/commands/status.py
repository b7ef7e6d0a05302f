"""`imagerelay status`: where a release stands, from the ledger, tier-0 and Prefect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from azure.core.exceptions import AzureError, ResourceNotFoundError
from rich.table import Table

from imagerelay.commands import fail, make_console
from imagerelay.commands.tier0 import (
    open_tier0,
    require_prefect,
    run_inventory,
    ui_url,
)
from imagerelay.ledger import LedgerEntry
from imagerelay.models import TargetState
from imagerelay.redact import redact_text
from imagerelay.settings import get_settings
from imagerelay.status import (
    ReleaseRun,
    StageCounts,
    by_image,
    newest_release,
    stage_counts,
    tier1_done,
)

console = make_console()

EXIT_FAILED_TARGETS = 1


def status(
    release: Annotated[
        str | None,
        typer.Argument(help="Release id, e.g. 2026.12; the newest release if omitted."),
    ] = None,
    inventory: Annotated[Path | None, typer.Option(help="Inventory file.")] = None,
) -> None:
    """Show a release's counts per stage, its Prefect runs and its failed targets.

    Exits 0 when no target has failed (done or still running), 1 when any target
    of the release has failed, 2 when the release cannot be read.
    """
    settings = get_settings()
    plan = run_inventory(inventory)
    require_prefect()
    try:
        found = asyncio.run(
            _read(release, plan.tier0.container, plan.tier0.tier1_copies)
        )
    except AzureError as exc:
        fail(
            "the ledger in tier-0 cannot be read; check the stack or your access "
            f"to {plan.tier0.storage_account}: {redact_text(str(exc)).splitlines()[0]}"
        )
    if found is None:
        fail(
            f"the ledger holds no release {release}; run `imagerelay status` without "
            "a release id to see the newest one"
            if release
            else "the ledger holds no release yet: upload a VHD and run a release"
        )
    release_id, counts, failed = found
    runs = asyncio.run(_release_runs(release_id))
    ui = ui_url(settings)

    console.print(_counts_table(release_id, counts))
    console.print(_runs_table(runs))
    if failed:
        table = Table("image", "subscription", "region", "account", "error")
        for entry in failed:
            table.add_row(
                entry.image_name,
                entry.subscription_id,
                entry.region,
                entry.storage_account,
                redact_text(entry.error),
            )
        console.print(table)
        console.print(
            f"{len(failed)} targets failed; re-run the release to retry them "
            "(only what is not done is redone)"
        )
    console.print(f"Prefect UI: {ui or '(PREFECT_UI_URL is not set)'}")
    if failed:
        raise typer.Exit(EXIT_FAILED_TARGETS)


async def _read(
    release: str | None, container: str, tier1_total: int
) -> tuple[str, list[StageCounts], list[LedgerEntry]] | None:
    async with open_tier0(get_settings(), container) as tier0:
        try:
            if release is None:
                release = newest_release(await tier0.ledger.all_entries())
                if release is None:
                    return None
            entries = await tier0.ledger.release_entries(release)
        except ResourceNotFoundError:
            return None  # the ledger table is made by the first release
        if not entries:
            return None
        counts = [
            stage_counts(
                release,
                image_name,
                image_entries,
                await tier1_done(tier0.container, release, image_name),
                tier1_total,
            )
            for image_name, image_entries in by_image(entries).items()
        ]
    failed = [e for e in entries if e.state is TargetState.FAILED]
    return release, counts, failed


async def _release_runs(release: str) -> list[ReleaseRun]:
    """The release flow's runs named after this release, newest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    prefix = f"release-{release}-"
    ui = ui_url(get_settings())
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["release"])),
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=prefix)),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=20,
        )
    return [
        ReleaseRun(
            name=run.name,
            state=(run.state.name if run.state else None) or "unknown",
            start=run.start_time or run.expected_start_time,
            url=f"{ui}/runs/flow-run/{run.id}",
        )
        for run in runs
        if run.name.startswith(prefix)
    ]


def _counts_table(release: str, counts: list[StageCounts]) -> Table:
    table = Table(
        "image",
        "targets",
        "tier-1",
        "copies done",
        "pending",
        "failed",
        "images done",
        "failed",
        "last change (UTC)",
        title=f"Release {release}",
    )
    for row in counts:
        table.add_row(
            row.image_name,
            str(row.targets),
            f"{row.tier1_done}/{row.tier1_total}",
            str(row.copies_done),
            str(row.copies_pending),
            str(row.copies_failed),
            str(row.images_done),
            str(row.images_failed),
            _utc(row.updated),
        )
    return table


def _runs_table(runs: list[ReleaseRun]) -> Table:
    table = Table("run", "state", "start (UTC)", "URL", title="Release flow runs")
    for run in runs:
        table.add_row(
            run.name,
            run.state,
            _utc(run.start),
            run.url,
        )
    if not runs:
        table.add_row("(none found in Prefect)", "", "", "")
    return table


def _utc(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else ""
