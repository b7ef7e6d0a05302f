"""The release flow: one golden VHD to a managed image in every enabled target."""

from __future__ import annotations

import asyncio

from prefect import flow, get_client, get_run_logger, unmapped
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from blocks.inventory import load_run_inventory
from blocks.tier0 import Tier0Storage
from flows.distribute import distribute, tier0_session
from imagerelay import clients
from imagerelay.inventory import Target
from imagerelay.ledger import check_same_source
from imagerelay.limits import planned_limits
from imagerelay.models import HyperVGeneration, OsState, OsType, Release, TargetState
from imagerelay.naming import check_image_name, check_release, managed_image_name
from imagerelay.redact import redact_text
from imagerelay.report import failed_targets
from imagerelay.settings import get_settings
from imagerelay.source import NothingToRelease, check_blob_path
from imagerelay.tier1 import seeding_rounds
from tasks.limits import check_limits
from tasks.report import publish_report
from tasks.source import verify_source
from tasks.tier1 import seed_tier1


def rotated(blobs: list[str], start: int) -> list[str]:
    """The tier-1 copies starting at start % len: targets spread over the sources."""
    start %= len(blobs)
    return blobs[start:] + blobs[:start]


def scheduled_month() -> str:
    """The release id of a scheduled run: the month it was due, e.g. 2026.12."""
    return flow_run.scheduled_start_time.strftime("%Y.%m")


def run_name() -> str:
    """release-<id>-<image name>, so runs of different releases tell apart in the UI."""
    parameters = flow_run.parameters
    release_id = parameters.get("release_id") or "latest"
    return f"release-{release_id}-{parameters['image_name']}"


async def name_run_after(release_id: str, image_name: str) -> None:
    """Rename a run started without a release id, so `imagerelay status` finds it."""
    name = f"release-{release_id}-{image_name}"
    if flow_run.name != name:
        async with get_client() as client:
            await client.update_flow_run(flow_run.id, name=name)


@flow(name="release", flow_run_name=run_name)
async def release_flow(
    os_type: OsType,
    image_name: str,
    release_id: str | None = None,
    vhd: str | None = None,
    hyper_v_generation: HyperVGeneration | None = None,
    os_state: OsState = "Generalized",
    inventory: str | None = None,
    tier0_block: str | None = None,
) -> State:
    """Distribute a VHD in tier-0 to every enabled target of the inventory.

    Args:
        os_type: Linux or Windows, as Azure needs it stated.
        image_name: Base name of the images, named <image_name>-<release>-<region>.
        release_id: Names everything the release creates, e.g. "2026.12"; if
            omitted, the release the upload was stamped with, else the month of
            the scheduled start time.
        vhd: Blob path inside the tier-0 container; if omitted, the newest upload
            of the OS type and image name, unless a release already took it.
        hyper_v_generation: V1 (BIOS) or V2 (UEFI); if omitted, what the upload
            was stamped with, else V2.
        os_state: Generalized (sysprepped) or Specialized.
        inventory: Inventory file; if omitted, the IMAGERELAY_INVENTORY_BLOCK
            block when set, else the IMAGERELAY_INVENTORY file.
        tier0_block: Tier0Storage block name; IMAGERELAY_TIER0_BLOCK if omitted.
    """
    logger = get_run_logger()
    settings = get_settings()
    plan = await load_run_inventory(inventory)
    check_image_name(image_name)
    vhd = check_blob_path(vhd) if vhd else None
    await check_limits(planned_limits(plan, settings))
    block_name = tier0_block or settings.tier0_block
    tier0 = await Tier0Storage.load(block_name)

    try:
        source = await verify_source(
            tier0, plan.tier0.container, vhd, os_type, hyper_v_generation, image_name
        )
    except NothingToRelease as exc:
        logger.info("%s", exc)
        return Completed(message=str(exc))
    release_id = check_release(release_id or source.release or scheduled_month())
    await name_run_after(release_id, image_name)
    for target in plan.enabled_targets:
        managed_image_name(release_id, image_name, target.region)
    release = Release(
        id=release_id,
        image_name=image_name,
        os_type=os_type,
        hyper_v_generation=hyper_v_generation or source.hyper_v_generation or "V2",
        os_state=os_state,
        source=source,
    )

    copies = plan.tier0.tier1_copies
    targets = plan.enabled_targets
    async with (
        clients.shared_clients(settings),
        tier0_session(block_name, tier0, share=True) as session,
    ):
        ledger = session.ledger
        await ledger.ensure_table()
        check_same_source(release, await ledger.entries(release.id, image_name))

        tier1_blobs: list[str] = []
        for round_ in seeding_rounds(copies):
            seeded = seed_tier1.map(unmapped(tier0), unmapped(release), round_)
            tier1_blobs += await asyncio.to_thread(seeded.result)
        logger.info("%d tier-1 copies ready", len(tier1_blobs))

        await ledger.record_many(release, targets, TargetState.PENDING)
        # One subflow run per target keeps each target visible in the UI; past
        # targets_in_flight they wait here, not polling the Prefect server for slots.
        in_flight = asyncio.Semaphore(settings.targets_in_flight)

        async def deliver(index: int, target: Target) -> None:
            async with in_flight:
                try:
                    await distribute(
                        release,
                        target,
                        rotated(tier1_blobs, index),
                        block_name,
                        return_state=True,
                    )
                except Exception as exc:
                    # The target's own failures are in its returned state; this is
                    # Prefect itself refusing to run it (e.g. SQLite's 'database is
                    # locked' as HTTP 503 after the client's retries). Failing the
                    # release here would strand every target still running.
                    why = redact_text(str(exc))
                    error = f"Prefect could not run this target: {why}"
                    logger.error("Target %s: %s", target.label, error)
                    await ledger.record(
                        release, target, TargetState.FAILED, error=error
                    )

        await asyncio.gather(*(deliver(i, t) for i, t in enumerate(targets)))
        wanted = {target.key for target in targets}
        entries = [
            e
            for e in await ledger.entries(release.id, release.image_name)
            if e.target_key in wanted
        ]

    await publish_report(release, entries, copies)
    failed = failed_targets(entries)
    if failed:
        names = ", ".join(
            f"{e.subscription_id}/{e.region}/{e.storage_account}" for e in failed
        )
        return Failed(
            message=f"{len(failed)} of {len(entries)} targets failed: {names}"
        )
    return Completed(message=f"{len(entries)} images ready for release {release.id}")
