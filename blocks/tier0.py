"""The tier-0 storage account as a Prefect block on prefect-azure's credentials."""

from __future__ import annotations

from typing import Any

from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob.aio import BlobClient, ContainerClient
from prefect.blocks.core import Block
from prefect_azure.credentials import AzureBlobStorageCredentials
from pydantic import Field

from imagerelay.clients import storage_retry
from imagerelay.settings import get_settings


class Tier0Storage(Block):
    """Where golden VHDs land, tier-1 copies live and the release ledger is kept."""

    _block_type_name = "imagerelay Tier-0 Storage"
    _block_type_slug = "imagerelay-tier0-storage"
    _description = (
        "The tier-0 storage account of imagerelay: uploads, tier-1 copies and the "
        "release ledger table."
    )

    credentials: AzureBlobStorageCredentials = Field(
        default=...,
        description="Connection string (local stack) or account URL with "
        "DefaultAzureCredential (Azure) of the tier-0 account.",
    )
    table_endpoint: str | None = Field(
        default=None,
        description="Table service URL of the account; derived from the blob URL "
        "or connection string when unset.",
    )
    ledger_table: str = Field(
        default="imagerelayledger",
        pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$",
        description="Azure Table that records every (release, target).",
    )

    def table_service(self) -> TableServiceClient:
        """An async table client for the ledger, authenticated like the blob client."""
        if self.credentials.connection_string is not None:
            secret = self.credentials.connection_string.get_secret_value()
            return TableServiceClient.from_connection_string(secret)
        endpoint = self.table_endpoint or str(self.credentials.account_url).replace(
            ".blob.", ".table."
        )
        return TableServiceClient(endpoint, credential=DefaultAzureCredential())

    def container_client(self, container: str) -> ContainerClient:
        """A container client made as prefect-azure makes it, with imagerelay's retry.

        The storage SDK's default retry waits 15 s, then 18 s, 42 s, and ignores
        Retry-After; imagerelay's honours Retry-After and starts at
        IMAGERELAY_STORAGE_RETRY_BACKOFF_SECONDS, like every other blob client.
        """
        credentials, options = self.credentials, self._options()
        if credentials.connection_string is None:
            return ContainerClient(
                account_url=str(credentials.account_url),
                container_name=container,
                credential=credentials._create_credential(),
                **options,
            )
        secret = credentials.connection_string.get_secret_value()
        return ContainerClient.from_connection_string(secret, container, **options)

    def blob_client(self, container: str, blob: str) -> BlobClient:
        """A blob client made as prefect-azure makes it, with imagerelay's retry."""
        credentials, options = self.credentials, self._options()
        if credentials.connection_string is None:
            return BlobClient(
                account_url=str(credentials.account_url),
                container_name=container,
                blob_name=blob,
                credential=credentials._create_credential(),
                **options,
            )
        secret = credentials.connection_string.get_secret_value()
        return BlobClient.from_connection_string(secret, container, blob, **options)

    @staticmethod
    def _options() -> dict[str, Any]:
        # prefect-azure's get_*_client take no client options, hence its
        # _create_credential (service principal or DefaultAzureCredential) here.
        return {"retry_policy": storage_retry(get_settings())}
