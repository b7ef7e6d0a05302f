"""Tier-2: copy a tier-1 VHD into the target's own storage account."""

from __future__ import annotations

from datetime import timedelta

from prefect import task

from blocks.tier0 import Tier0Storage
from imagerelay import clients
from imagerelay.copy import copy_blob_from_any, copy_metadata
from imagerelay.images import check_account_location
from imagerelay.inventory import Target
from imagerelay.limits import copy_limits, local_gates
from imagerelay.models import CopyResult, Release
from imagerelay.naming import tier2_blob_name
from imagerelay.sas import read_sas_url
from imagerelay.settings import get_settings
from tasks.limits import hold
from tasks.retry import transient_only


@task(
    name="copy-to-target",
    task_run_name="copy-to-{target.storage_account}",
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[30, 120],
)
async def copy_to_target(
    tier0: Tier0Storage, release: Release, target: Target, tier1_blobs: list[str]
) -> CopyResult:
    """Copy a tier-1 blob to the target's container with a read-only SAS.

    First it confirms the target's account is in the region the inventory says (an
    image can only be made there). The first tier-1 blob is tried first; a copy from
    it that stays pending too long is aborted and redone from the next one.
    """
    settings = get_settings()
    timeout = settings.copy_timeout_minutes * 60
    source = release.source

    async def sas_url(blob: str) -> str:
        async with tier0.blob_client(source.container, blob) as src:
            return await read_sas_url(src, timedelta(seconds=timeout + 600))

    def metadata(url: str) -> dict[str, str]:
        return copy_metadata(release.id, url, source.etag, source.size, source.md5)

    async with clients.azure_clients(settings) as azure:
        await check_account_location(azure.storage(target.subscription_id), target)
        destination = azure.blob(target.storage_account).get_blob_client(
            target.container, tier2_blob_name(release.id, release.image_name)
        )
        async with (
            local_gates(settings).copy(source.account, target.storage_account),
            hold(copy_limits(source.account, target.storage_account)),
        ):
            return await copy_blob_from_any(
                tier1_blobs,
                sas_url,
                destination,
                metadata,
                size=source.size,
                poll_seconds=settings.copy_poll_seconds,
                timeout_seconds=timeout,
            )
