"""Intake: find and verify the golden VHD a release distributes."""

from __future__ import annotations

from azure.storage.blob.aio import ContainerClient
from prefect import get_run_logger, task

from blocks.tier0 import Tier0Storage
from imagerelay import source
from imagerelay.ledger import Ledger
from imagerelay.models import HyperVGeneration, OsType, SourceVhd
from tasks.retry import transient_only


@task(
    name="verify-source",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=transient_only,
)
async def verify_source(
    tier0: Tier0Storage,
    container: str,
    vhd: str | None,
    os_type: OsType,
    hyper_v_generation: HyperVGeneration | None,
    image_name: str,
) -> SourceVhd:
    """Resolve the source blob (given, or the newest unreleased upload), check it."""
    logger = get_run_logger()
    async with tier0.container_client(container) as client:
        blob = vhd or await _newest_unreleased(tier0, client, os_type, image_name)
        verified = await source.verify_source(client, blob, os_type, hyper_v_generation)
    logger.info(
        "Source %s/%s verified: %.0f MiB, ETag %s",
        container,
        blob,
        verified.size / 2**20,
        verified.etag,
    )
    return verified


async def _newest_unreleased(
    tier0: Tier0Storage, container: ContainerClient, os_type: OsType, image_name: str
) -> str:
    async with tier0.table_service() as tables:
        ledger = Ledger(tables.get_table_client(tier0.ledger_table))
        await ledger.ensure_table()
        released = source.released_md5s(await ledger.image_entries(image_name))
    return await source.newest_unreleased_upload(
        container, os_type, image_name, released
    )
