"""The cleanup flow: VHDs of completed releases, then images past retention."""

from __future__ import annotations

import asyncio

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import acreate_table_artifact
from prefect.futures import wait
from prefect.states import Completed, Failed, State

from blocks.inventory import load_run_inventory
from blocks.tier0 import Tier0Storage
from imagerelay.cleanup import (
    CleanupRefused,
    Deletion,
    ReleaseKey,
    check_complete,
    check_filters,
    complete_releases,
)
from imagerelay.inventory import Inventory, Target
from imagerelay.ledger import Ledger
from imagerelay.redact import redact_text
from imagerelay.settings import get_settings
from tasks.cleanup import (
    delete,
    find_expired_images,
    find_tier1_leftovers,
    find_tier2_leftovers,
)


def run_name() -> str:
    from prefect.runtime import flow_run

    dry_run = flow_run.parameters.get("dry_run")
    return "cleanup-dry-run" if dry_run else "cleanup"


@flow(name="cleanup", flow_run_name=run_name)
async def cleanup_flow(
    release_id: str | None = None,
    image_name: str | None = None,
    keep: int | None = None,
    dry_run: bool = False,
    inventory: str | None = None,
    tier0_block: str | None = None,
) -> State:
    """Delete completed releases' VHDs when configured, and images past retention.

    Args:
        release_id: Clean up only this release; refused unless it is complete.
            Every completed release if omitted.
        image_name: Only this image name.
        keep: Images kept per target and image name; IMAGERELAY_CLEANUP_KEEP_IMAGES
            if omitted; no image is deleted when both are unset.
        dry_run: List what would be deleted in the artifact and delete nothing.
    """
    logger = get_run_logger()
    settings = get_settings()
    plan = await load_run_inventory(inventory)
    tier0 = await Tier0Storage.load(tier0_block or settings.tier0_block)
    keep = keep or settings.cleanup_keep_images

    done: set[ReleaseKey] = set()
    try:
        check_filters(release_id, image_name)
        if settings.cleanup_tier1 or settings.cleanup_tier2 or release_id is not None:
            done = await _complete(tier0, release_id, image_name)
    except CleanupRefused as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    found: list[Deletion] = []
    if settings.cleanup_tier1 and done:
        found += await find_tier1_leftovers(tier0, plan.tier0, done)
    if settings.cleanup_tier2 and done:
        leftovers = find_tier2_leftovers.map(plan.enabled_targets, unmapped(done))
        for batch in await asyncio.to_thread(leftovers.result):
            found += batch
    if keep:
        found += await _expired_images(plan, keep)
    if image_name is not None:
        found = [d for d in found if d.image_name == image_name]
    if release_id is not None:
        found = [d for d in found if d.release == release_id]
    logger.info("%d things to delete (dry run: %s)", len(found), dry_run)

    failed: dict[int, str] = {}
    if not dry_run and found:
        futures = delete.map(unmapped(tier0), found)
        await asyncio.to_thread(wait, futures)
        for index, future in enumerate(futures):
            if not future.state.is_completed():
                failed[index] = redact_text(future.state.message or "failed")
    await _report(found, failed, dry_run)

    summary = _summary(found, dry_run)
    off = []
    if not (settings.cleanup_tier1 or settings.cleanup_tier2):
        off.append("VHD cleanup is off (IMAGERELAY_CLEANUP_TIER1, _TIER2)")
    if not keep:
        off.append("retention is off (--keep, IMAGERELAY_CLEANUP_KEEP_IMAGES)")
    if off:
        summary += f"; {' and '.join(off)}"
    if failed:
        return Failed(
            message=f"{len(failed)} of {len(found)} deletions failed; {summary}",
            data=found,
        )
    return Completed(message=summary, data=found)


async def _complete(
    tier0: Tier0Storage, release_id: str | None, image_name: str | None
) -> set[ReleaseKey]:
    """Completed (release, image) pairs; refuses a named release that is not."""
    async with tier0.table_service() as tables:
        ledger = Ledger(tables.get_table_client(tier0.ledger_table))
        await ledger.ensure_table()
        if release_id is None:
            entries = await ledger.all_entries()
        else:
            entries = await ledger.release_entries(release_id)
    if image_name is not None:
        entries = [e for e in entries if e.image_name == image_name]
    if release_id is not None:
        check_complete(release_id, entries)
    return complete_releases(entries)


async def _expired_images(plan: Inventory, keep: int) -> list[Deletion]:
    groups: dict[tuple[str, str], list[Target]] = {}
    for target in plan.enabled_targets:
        key = (target.subscription_id, target.image_resource_group)
        groups.setdefault(key, []).append(target)
    futures = [
        find_expired_images.submit(subscription, group, targets, keep)
        for (subscription, group), targets in sorted(groups.items())
    ]
    found: list[Deletion] = []
    for future in futures:
        found += await asyncio.to_thread(future.result)
    return found


async def _report(found: list[Deletion], failed: dict[int, str], dry_run: bool) -> None:
    rows = [
        {
            "kind": d.kind.value,
            "release": d.release,
            "image": d.image_name,
            "where": d.where,
            "why": d.reason,
            "result": "would delete" if dry_run else failed.get(index, "deleted"),
        }
        for index, d in enumerate(found)
    ]
    await acreate_table_artifact(
        key="cleanup-dry-run" if dry_run else "cleanup",
        table=rows or [{"kind": "", "release": "", "result": "nothing to delete"}],
        description="What cleanup deleted"
        if not dry_run
        else "What cleanup would delete",
    )


def _summary(found: list[Deletion], dry_run: bool) -> str:
    counts: dict[str, int] = {}
    for deletion in found:
        counts[deletion.kind.value] = counts.get(deletion.kind.value, 0) + 1
    what = ", ".join(f"{n} {kind}s" for kind, n in sorted(counts.items()))
    verb = "would delete" if dry_run else "deleted"
    return f"cleanup {verb} {what}" if what else "cleanup: nothing to delete"
