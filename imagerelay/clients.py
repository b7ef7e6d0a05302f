"""The one place Azure clients are made, so tests point them at the local stack."""

from __future__ import annotations

import email.utils
import time
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

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


class RetryAfterRetry(ExponentialRetry):
    """The storage SDK's exponential backoff, except that a Retry-After sent wins.

    The storage SDK ignores Retry-After; ARM clients (azure-core) already honour it.
    """

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        history = settings.get("history") or []
        response = history[-1].http_response if history else None
        header = response.headers.get("Retry-After") if response is not None else None
        seconds = _retry_after_seconds(header)
        if seconds is not None:
            return seconds
        return float(super().get_backoff_time(settings))


def _retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date), if valid."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def storage_retry(settings: Settings) -> RetryAfterRetry:
    """Retry policy of every blob client imagerelay makes."""
    return RetryAfterRetry(initial_backoff=settings.storage_retry_backoff_seconds)


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
            retry_policy=storage_retry(settings),
        )
    return BlobServiceClient(
        url, credential=credential, retry_policy=storage_retry(settings)
    )
