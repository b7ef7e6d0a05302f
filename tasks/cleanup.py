"""Cleanup: find what completed releases left behind and delete it."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from prefect import get_run_logger, task

from blocks.tier0 import Tier0Storage
from imagerelay import clients
from imagerelay.cleanup import (
    Deletion,
    DeletionKind,
    ReleaseKey,
    tier1_leftovers,
    tier2_leftovers,
)
from imagerelay.errors import PermanentError
from imagerelay.images import azure_error
from imagerelay.inventory import Target, Tier0
from imagerelay.retention import expired, images_in_group
from imagerelay.settings import get_settings
from tasks.retry import transient_only


class DeleteRefused(PermanentError):
    """Azure refused a deletion (rights, lock, image in use)."""


@task(name="find-tier1-leftovers", retries=2, retry_condition_fn=transient_only)
async def find_tier1_leftovers(
    tier0: Tier0Storage, place: Tier0, done: set[ReleaseKey]
) -> list[Deletion]:
    """Tier-1 copies of completed releases."""
    async with tier0.container_client(place.container) as container:
        return await tier1_leftovers(container, place.subscription_id, done)


@task(
    name="find-tier2-leftovers",
    task_run_name="find-leftovers-{target.storage_account}",
    retries=2,
    retry_condition_fn=transient_only,
)
async def find_tier2_leftovers(target: Target, done: set[ReleaseKey]) -> list[Deletion]:
    """VHDs completed releases copied into one target's account."""
    settings = get_settings()
    async with (
        clients.arm_credential() as credential,
        clients.blob_service(settings, target.storage_account, credential) as service,
    ):
        container = service.get_container_client(target.container)
        try:
            return await tier2_leftovers(container, target, done)
        except ResourceNotFoundError:
            return []


@task(
    name="find-expired-images",
    task_run_name="find-expired-{resource_group}",
    retries=2,
    retry_condition_fn=transient_only,
)
async def find_expired_images(
    subscription_id: str, resource_group: str, targets: list[Target], keep: int
) -> list[Deletion]:
    """Images in one resource group beyond the newest `keep` per region and name."""
    settings = get_settings()
    async with (
        clients.arm_credential() as credential,
        clients.compute_client(settings, credential, subscription_id) as compute,
    ):
        try:
            found = await images_in_group(
                compute, subscription_id, resource_group, targets
            )
        except ResourceNotFoundError:
            return []
    return expired(found, keep)


@task(
    name="delete",
    task_run_name="delete-{deletion.name}",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=transient_only,
)
async def delete(tier0: Tier0Storage, deletion: Deletion) -> Deletion:
    """Delete one VHD or image; one already gone counts as deleted."""
    logger = get_run_logger()
    settings = get_settings()
    try:
        if deletion.kind is DeletionKind.TIER1:
            async with tier0.blob_client(deletion.container, deletion.name) as blob:
                await blob.delete_blob()
        elif deletion.kind is DeletionKind.TIER2:
            async with (
                clients.arm_credential() as credential,
                clients.blob_service(settings, deletion.scope, credential) as service,
            ):
                blob = service.get_blob_client(deletion.container, deletion.name)
                await blob.delete_blob()
        else:
            async with (
                clients.arm_credential() as credential,
                clients.compute_client(
                    settings, credential, deletion.subscription_id
                ) as compute,
            ):
                poller = await compute.images.begin_delete(
                    deletion.scope, deletion.name
                )
                await poller.result()
    except ResourceNotFoundError:
        logger.info("%s %s was already gone", deletion.kind.value, deletion.where)
        return deletion
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if 400 <= status < 500 and status not in (408, 409, 429):
            raise DeleteRefused(
                f"deleting {deletion.kind.value} {deletion.where} was refused: "
                f"{azure_error(exc)}"
            ) from None
        raise
    logger.info("Deleted %s %s", deletion.kind.value, deletion.where)
    return deletion
