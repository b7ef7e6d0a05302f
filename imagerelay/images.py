"""Managed images: create one from a VHD blob, or find that it already exists."""

from __future__ import annotations

import logging
import time

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import (
    Image,
    ImageOSDisk,
    ImageProperties,
    ImageStorageProfile,
)
from azure.mgmt.storage.aio import StorageManagementClient

from imagerelay.errors import PermanentError
from imagerelay.inventory import Target
from imagerelay.models import ImageResult, Release

logger = logging.getLogger(__name__)

SOURCE_MD5_TAG = "imagerelay-source-md5"
# Operation error codes Azure documents as worth retrying.
RETRYABLE_CODES = frozenset(
    {"InternalOperationError", "InternalExecutionError", "RetryableError"}
)


class ImageError(RuntimeError):
    """Azure failed an image operation; retrying may help."""


class ImageRefused(ImageError, PermanentError):
    """Azure refused the image or the target is misconfigured; the message says why."""


def azure_error(exc: HttpResponseError) -> str:
    """`Code: message` from an ARM error response."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "code", None):
        return f"{error.code}: {error.message}"
    return str(exc.message or exc)


async def check_account_location(
    storage: StorageManagementClient, target: Target
) -> None:
    """Fail early when the target's storage account is not where the inventory says."""
    try:
        account = await storage.storage_accounts.get_properties(
            target.account_resource_group, target.storage_account
        )
    except HttpResponseError as exc:
        if exc.status_code not in (403, 404):
            raise ImageError(
                f"could not read storage account {target.storage_account} from "
                f"Azure Resource Manager: {azure_error(exc)}"
            ) from None
        raise ImageRefused(
            f"storage account {target.storage_account} was not found in resource "
            f"group {target.account_resource_group} of subscription "
            f"{target.subscription_id} ({azure_error(exc)}); fix the inventory or "
            "create the account"
        ) from None
    if account.location != target.region:
        raise ImageRefused(
            f"storage account {target.storage_account} is in {account.location}, "
            f"not {target.region}; an image can only be made from a VHD in its own "
            "region: fix the target's region or storage_account in the inventory"
        )


async def ensure_image(
    compute: ComputeManagementClient,
    target: Target,
    release: Release,
    name: str,
    blob_uri: str,
) -> ImageResult:
    """Create the managed image from blob_uri unless it already exists from it."""
    started = time.monotonic()
    group = target.image_resource_group
    try:
        existing = await compute.images.get(group, name)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        existing_blob = source_blob_uri(existing)
        existing_md5 = (existing.tags or {}).get(SOURCE_MD5_TAG)
        if existing_blob != blob_uri or existing_md5 != release.source.md5:
            made_from = (
                f"a VHD with MD5 {existing_md5}"
                if existing_md5
                else "a VHD imagerelay did not record (no source MD5 tag)"
            )
            raise ImageRefused(
                f"image {name} in {group} already exists, made from {made_from} "
                f"at {existing_blob}; delete it or release under another id"
            )
        if (
            existing.properties
            and existing.properties.provisioning_state == "Succeeded"
        ):
            logger.info("Image %s in %s already exists", name, group)
            return ImageResult(image_id=str(existing.id), seconds=0.0, skipped=True)

    image = Image(
        location=target.region,
        tags={
            "imagerelay-release": release.id,
            SOURCE_MD5_TAG: release.source.md5 or "",
        },
        properties=ImageProperties(
            hyper_v_generation=release.hyper_v_generation,
            storage_profile=ImageStorageProfile(
                os_disk=ImageOSDisk(
                    os_type=release.os_type,
                    os_state=release.os_state,
                    blob_uri=blob_uri,
                )
            ),
        ),
    )
    logger.info("Creating image %s in %s (%s)", name, group, target.region)
    try:
        poller = await compute.images.begin_create_or_update(group, name, image)
        created = await poller.result()
    except HttpResponseError as exc:
        status = exc.status_code or 0
        refused = (
            400 <= status < 500 and status not in (408, 409, 429)
        ) or operation_failed(exc)
        error = ImageRefused if refused else ImageError
        raise error(f"image {name} in {group} failed: {azure_error(exc)}") from None
    seconds = time.monotonic() - started
    logger.info("Image %s created in %.1f s", name, seconds)
    return ImageResult(image_id=str(created.id), seconds=seconds, skipped=False)


def operation_failed(exc: HttpResponseError) -> bool:
    """Azure ran the operation and ended it Failed with an error a retry won't fix.

    The poller raises these with the status poll's 2xx response; a retry would send
    the same request again and meet the same answer.
    """
    status = exc.status_code or 0
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return 200 <= status < 300 and bool(code) and code not in RETRYABLE_CODES


def source_blob_uri(image: Image) -> str | None:
    """The VHD blob an image was made from, if it was made from a blob."""
    properties = image.properties
    if properties is None or properties.storage_profile is None:
        return None
    os_disk = properties.storage_profile.os_disk
    return os_disk.blob_uri if os_disk is not None else None
