"""Azure Resource Manager access as a Prefect block: endpoint and identity."""

from __future__ import annotations

from typing import Any

from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential
from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator

from imagerelay.settings import Settings


class AzureResourceManager(Block):
    """Where Azure Resource Manager is and which identity setup and remove use."""

    _block_type_name = "imagerelay Azure Resource Manager"
    _block_type_slug = "imagerelay-azure-resource-manager"
    _description = (
        "Azure Resource Manager endpoint and identity for imagerelay setup and "
        "remove: a service principal when tenant, client id and secret are all set, "
        "DefaultAzureCredential (managed identity, workload identity, az login) "
        "otherwise."
    )

    endpoint: str = Field(
        default="https://management.azure.com",
        description="Resource Manager endpoint; another cloud's (e.g. "
        "https://management.usgovcloudapi.net) or a local emulator's.",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path of a CA bundle that signs the endpoint's certificate, when "
        "it is private (the local stack's emulator); the system's trust otherwise.",
    )
    tenant_id: str | None = Field(
        default=None,
        description="Entra ID tenant of the service principal; unset to use "
        "DefaultAzureCredential.",
    )
    client_id: str | None = Field(
        default=None,
        description="Application (client) id of the service principal; unset to use "
        "DefaultAzureCredential.",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        description="Client secret of the service principal; unset to use "
        "DefaultAzureCredential.",
    )

    @model_validator(mode="after")
    def _principal_is_whole(self) -> AzureResourceManager:
        given = [self.tenant_id, self.client_id, self.client_secret]
        if any(given) and not all(given):
            raise ValueError(
                "set tenant_id, client_id and client_secret together for a service "
                "principal, or none of them to use DefaultAzureCredential"
            )
        return self

    def credential(self) -> Any:
        """An async token credential: the service principal, else the default chain."""
        if self.tenant_id and self.client_id and self.client_secret:
            return ClientSecretCredential(
                self.tenant_id, self.client_id, self.client_secret.get_secret_value()
            )
        return DefaultAzureCredential()

    def apply_to(self, settings: Settings) -> Settings:
        """The settings with this block's endpoint and CA bundle."""
        return settings.model_copy(
            update={"arm_endpoint": self.endpoint, "arm_ca_bundle": self.ca_bundle}
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureResourceManager:
        ca_bundle = str(settings.arm_ca_bundle) if settings.arm_ca_bundle else None
        return cls(endpoint=settings.arm_endpoint, ca_bundle=ca_bundle)
