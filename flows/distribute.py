"""One target: copy the VHD into its account, then make its managed image."""

from __future__ import annotations

from prefect import flow, get_run_logger

from blocks.tier0 import Tier0Storage
from imagerelay.inventory import Target
from imagerelay.ledger import Ledger
from imagerelay.models import Release, TargetState
from imagerelay.redact import redact_text
from tasks.image import create_image
from tasks.tier2 import check_target, copy_to_target


@flow(name="distribute", flow_run_name="{release.id}-{target.storage_account}")
async def distribute(
    release: Release, target: Target, tier1_blobs: list[str], tier0_block: str
) -> str:
    """Deliver one release to one target and return the image id.

    Args:
        tier1_blobs: tier-1 copies to read from, this target's own first.
    """
    logger = get_run_logger()
    tier0 = await Tier0Storage.load(tier0_block)
    async with tier0.table_service() as tables:
        ledger = Ledger(tables.get_table_client(tier0.ledger_table))
        await ledger.record(
            release, target, TargetState.COPYING, source_blob=tier1_blobs[0]
        )
        try:
            await check_target(target)
            copy = await copy_to_target(tier0, release, target, tier1_blobs)
            await ledger.record(
                release,
                target,
                TargetState.IMAGING,
                destination_blob=copy.destination,
                copy_seconds=copy.seconds,
                copy_reused=copy.skipped,
            )

            image = await create_image(release, target, copy.destination)
            await ledger.record(
                release,
                target,
                TargetState.DONE,
                image_id=image.image_id,
                image_seconds=image.seconds,
                image_reused=image.skipped,
                error="",
            )
        except Exception as exc:
            await ledger.record(
                release, target, TargetState.FAILED, error=redact_text(str(exc))
            )
            raise
    logger.info("Target %s done: %s", target.label, image.image_id)
    return image.image_id
