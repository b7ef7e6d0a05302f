"""The one place Azure clients are made, so tests point them at the local stack."""

from __future__ import annotations

from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.storage.blob.aio import BlobServiceClient

from imagerelay.settings import Settings


def arm_credential() -> DefaultAzureCredential:
    """Entra ID credential for Resource Manager (managed identity, CLI, env...)."""
    return DefaultAzureCredential()


def _arm_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "polling_interval": settings.arm_polling_interval,
    }
    if settings.arm_ca_bundle is not None:
        options["connection_verify"] = str(settings.arm_ca_bundle)
    return options


def compute_client(
    settings: Settings, credential: DefaultAzureCredential, subscription_id: str
) -> ComputeManagementClient:
    return ComputeManagementClient(
        credential, subscription_id, **_arm_options(settings)
    )


def storage_management_client(
    settings: Settings, credential: DefaultAzureCredential, subscription_id: str
) -> StorageManagementClient:
    return StorageManagementClient(
        credential, subscription_id, **_arm_options(settings)
    )


def resource_client(
    settings: Settings, credential: DefaultAzureCredential, subscription_id: str
) -> ResourceManagementClient:
    return ResourceManagementClient(
        credential, subscription_id, **_arm_options(settings)
    )


def blob_service(
    settings: Settings, account: str, credential: DefaultAzureCredential
) -> BlobServiceClient:
    """An async blob client for a storage account: its key if configured, else Entra."""
    url = settings.blob_endpoint.format(account=account)
    key = settings.storage_keys.get(account)
    if key is not None:
        return BlobServiceClient(
            url,
            credential={"account_name": account, "account_key": key.get_secret_value()},
        )
    return BlobServiceClient(url, credential=credential)
