"""Tier-1: copies of the golden VHD inside tier-0, so many targets can read at once."""

from __future__ import annotations

from datetime import timedelta

from prefect import task

from blocks.tier0 import Tier0Storage
from imagerelay.copy import copy_blob, copy_metadata
from imagerelay.limits import copy_limits, local_gates
from imagerelay.models import Release
from imagerelay.naming import tier1_blob_name
from imagerelay.sas import read_sas_url
from imagerelay.settings import get_settings
from imagerelay.tier1 import seed_source
from tasks.limits import hold
from tasks.retry import transient_only


@task(
    name="seed-tier1",
    task_run_name="seed-tier1-{index}",
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[10, 60],
)
async def seed_tier1(tier0: Tier0Storage, release: Release, index: int) -> str:
    """Make (or find) the index-th tier-1 copy and return its blob name.

    The copy reads from the upload or from an earlier tier-1 copy (seed_source).
    """
    settings = get_settings()
    source = release.source
    name = tier1_blob_name(release.id, release.image_name, index)
    earlier = seed_source(index)
    read_from = (
        source.blob
        if earlier is None
        else tier1_blob_name(release.id, release.image_name, earlier)
    )
    timeout = settings.copy_timeout_minutes * 60
    async with tier0.container_client(source.container) as container:
        source_blob = container.get_blob_client(read_from)
        source_url = await read_sas_url(source_blob, timedelta(seconds=timeout + 600))
        async with (
            local_gates(settings).copy(source.account, source.account),
            hold(copy_limits(source.account, source.account)),
        ):
            await copy_blob(
                source_url,
                container.get_blob_client(name),
                copy_metadata(
                    release.id, source_url, source.etag, source.size, source.md5
                ),
                size=source.size,
                poll_seconds=settings.copy_poll_seconds,
                timeout_seconds=timeout,
            )
    return name
