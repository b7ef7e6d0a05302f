"""Intake: find and verify the golden VHD a release distributes."""

from __future__ import annotations

from prefect import get_run_logger, task

from blocks.tier0 import Tier0Storage
from imagerelay import source
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
) -> SourceVhd:
    """Resolve the source blob (given, or the newest upload) and check it."""
    logger = get_run_logger()
    async with tier0.credentials.get_container_client(container) as client:
        blob = vhd or await source.newest_upload(client, os_type)
        verified = await source.verify_source(client, blob, os_type, hyper_v_generation)
    logger.info(
        "Source %s/%s verified: %.0f MiB, ETag %s",
        container,
        blob,
        verified.size / 2**20,
        verified.etag,
    )
    return verified
