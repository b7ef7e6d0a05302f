"""Managed disks for tests, made the way Azure users make them: import a VHD blob."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Disk
from azure.storage.blob import ContainerClient

from devstack.compute.storage_accounts import account_body
from devstack.config import StackAccount, StackConfig

CONTAINER = "disk-sources"


def compute_client(stack: StackConfig, subscription_id: str) -> ComputeManagementClient:
    """The unchanged SDK client, pointed at the stack's ARM emulator."""
    return ComputeManagementClient(
        DefaultAzureCredential(),
        subscription_id,
        base_url=stack.arm_endpoint,
        connection_verify=str(stack.cert_path),
        polling_interval=1,
    )


@pytest.fixture(scope="module")
def account(stack: StackConfig) -> StackAccount:
    """The first storage account of the test inventory (a target's)."""
    return stack.accounts[0]


@pytest.fixture(scope="module")
def compute(
    stack: StackConfig, account: StackAccount
) -> Iterator[ComputeManagementClient]:
    """A compute client on that account's subscription."""
    with compute_client(stack, account.subscription_id) as client:
        yield client


def upload_vhd(stack: StackConfig, account: StackAccount, path: Path) -> str:
    """Upload a VHD file as a page blob; its plain URL (no SAS)."""
    name = f"{uuid.uuid4().hex[:8]}-{path.name}"
    container = ContainerClient.from_connection_string(
        stack.connection_string(account.name), CONTAINER
    )
    with container:
        if not container.exists():
            container.create_container()
        blob = container.get_blob_client(name)
        with path.open("rb") as data:
            blob.upload_blob(data, blob_type="PageBlob")
        return str(blob.url)


def import_body(
    stack: StackConfig, account: StackAccount, source_uri: str, **properties: Any
) -> dict[str, Any]:
    """A disk PUT body that imports the blob, in the account's region."""
    return {
        "location": account.region,
        "properties": {
            "creationData": {
                "createOption": "Import",
                "sourceUri": source_uri,
                "storageAccountId": account_body(stack, account)["id"],
            },
            **properties,
        },
    }


def import_disk(
    stack: StackConfig,
    account: StackAccount,
    vhd: Path,
    *,
    name: str | None = None,
    **properties: Any,
) -> Disk:
    """Upload the VHD and import it as a disk in the account's resource group."""
    source = upload_vhd(stack, account, vhd)
    body = import_body(stack, account, source, **properties)
    with compute_client(stack, account.subscription_id) as compute:
        poller = compute.disks.begin_create_or_update(
            account.resource_group, name or new_disk_name(), body
        )
        return poller.result()


def new_disk_name() -> str:
    return f"disk-{uuid.uuid4().hex[:10]}"
