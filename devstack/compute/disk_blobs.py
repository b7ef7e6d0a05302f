"""The Azurite page blobs behind emulated managed disks, and their access SAS."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import (
    AccessPolicy,
    BlobSasPermissions,
    ContainerClient,
    ContainerSasPermissions,
    generate_blob_sas,
)

from devstack.compute.errors import ArmError
from devstack.config import StackAccount, StackConfig
from imagerelay.vhd import FOOTER_SIZE, build_footer

logger = logging.getLogger(__name__)

# Azure names the blob behind a disk's access SAS "abcd"; the container is per disk.
DISK_BLOB = "abcd"
ACCESS_POLICY = "disk-access"
CLOCK_SKEW = timedelta(minutes=5)


def _container(
    config: StackConfig, account: StackAccount, name: str
) -> ContainerClient:
    return ContainerClient(
        f"http://{config.host}:{config.blob_port}/{account.name}",
        name,
        credential={"account_name": account.name, "account_key": account.key},
        connection_timeout=10,
        read_timeout=60,
    )


def create_empty(
    config: StackConfig, account: StackAccount, container: str, virtual_size: int
) -> None:
    """A sparse fixed VHD of `virtual_size` bytes, as an empty managed disk exports."""
    with _container(config, account, container) as client:
        client.create_container()
        blob = client.get_blob_client(DISK_BLOB)
        blob.create_page_blob(virtual_size + FOOTER_SIZE)
        blob.upload_page(
            build_footer(virtual_size), offset=virtual_size, length=FOOTER_SIZE
        )


def import_blob(
    config: StackConfig,
    account: StackAccount,
    container: str,
    source_account: StackAccount,
    source_container: str,
    source_blob: str,
) -> None:
    """Copy the source VHD into the disk's own blob, as Azure does on Import."""
    expiry = datetime.now(UTC) + timedelta(hours=1)
    token = generate_blob_sas(
        source_account.name,
        source_container,
        source_blob,
        account_key=source_account.key,
        permission=BlobSasPermissions(read=True),
        expiry=expiry,
    )
    source_url = (
        f"http://{config.host}:{config.blob_port}/{source_account.name}/"
        f"{source_container}/{source_blob}?{token}"
    )
    with _container(config, account, container) as client:
        client.create_container()
        copy = client.get_blob_client(DISK_BLOB).start_copy_from_url(source_url)
        # Limitation: Azurite finishes copies at once, so Import is never pending.
        if copy.get("copy_status") != "success":
            delete_container(config, account, container)
            raise ArmError(
                500,
                "InternalServerError",
                "The import copy did not finish; retry the disk creation.",
            )


def grant_read(
    config: StackConfig, account: StackAccount, container: str, seconds: int
) -> tuple[str, float]:
    """A read SAS on the disk's blob bound to a stored access policy, and its expiry.

    The policy is what revoke removes: a SAS that names it stops working at once.
    """
    now = datetime.now(UTC)
    expiry = now + timedelta(seconds=seconds)
    policy = AccessPolicy(
        permission=ContainerSasPermissions(read=True),
        start=now - CLOCK_SKEW,
        expiry=expiry,
    )
    with _container(config, account, container) as client:
        client.set_container_access_policy(signed_identifiers={ACCESS_POLICY: policy})
    # A SAS for the one blob, bound to the container's policy.
    token = generate_blob_sas(
        account.name,
        container,
        DISK_BLOB,
        account_key=account.key,
        policy_id=ACCESS_POLICY,
    )
    url = (
        f"http://{config.host}:{config.blob_port}/{account.name}/{container}/"
        f"{DISK_BLOB}?{token}"
    )
    return url, expiry.timestamp()


def revoke(config: StackConfig, account: StackAccount, container: str) -> None:
    """Remove the stored access policy, so every SAS granted on the disk fails."""
    client = _container(config, account, container)
    with client, contextlib.suppress(ResourceNotFoundError):
        client.set_container_access_policy(signed_identifiers={})


def delete_container(
    config: StackConfig, account: StackAccount, container: str
) -> None:
    """Delete the disk's container and blob; a missing one is already gone."""
    with _container(config, account, container) as client:
        try:
            client.delete_container()
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            logger.warning("Could not delete disk container %s: %s", container, exc)
