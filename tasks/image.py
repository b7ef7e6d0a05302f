"""Image: create the target's managed image from its tier-2 VHD."""

from __future__ import annotations

from prefect import task

from imagerelay import clients
from imagerelay.images import ensure_image
from imagerelay.inventory import Target
from imagerelay.limits import image_limits, local_gates
from imagerelay.models import ImageResult, Release
from imagerelay.naming import managed_image_name
from imagerelay.settings import get_settings
from tasks.limits import hold
from tasks.retry import transient_only


@task(
    name="create-image",
    task_run_name="image-{target.storage_account}",
    retries=2,
    retry_condition_fn=transient_only,
    retry_delay_seconds=[30, 120],
)
async def create_image(release: Release, target: Target, blob_uri: str) -> ImageResult:
    """Create (or find) the managed image in the target's resource group and region."""
    settings = get_settings()
    name = managed_image_name(release.id, release.image_name, target.region)
    async with (
        clients.azure_clients(settings) as azure,
        local_gates(settings).image(target.subscription_id),
        hold(image_limits(target.subscription_id)),
    ):
        compute = azure.compute(target.subscription_id)
        return await ensure_image(compute, target, release, name, blob_uri)
