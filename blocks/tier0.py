"""The tier-0 storage account as a Prefect block on prefect-azure's credentials."""

from __future__ import annotations

from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from prefect.blocks.core import Block
from prefect_azure.credentials import AzureBlobStorageCredentials
from pydantic import Field


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
