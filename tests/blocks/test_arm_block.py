"""The Azure Resource Manager block: which credential it makes, what it refuses."""

from __future__ import annotations

import pytest
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential
from pydantic import ValidationError

from blocks.arm import AzureResourceManager
from imagerelay.settings import Settings


async def test_a_whole_service_principal_makes_a_client_secret_credential() -> None:
    block = AzureResourceManager(
        tenant_id="tenant", client_id="client", client_secret="s3cret"
    )

    credential = block.credential()

    assert isinstance(credential, ClientSecretCredential)
    await credential.close()
    assert "s3cret" not in repr(block)


async def test_without_a_principal_the_default_chain_is_used() -> None:
    credential = AzureResourceManager().credential()

    assert isinstance(credential, DefaultAzureCredential)
    await credential.close()


def test_half_a_service_principal_is_refused() -> None:
    with pytest.raises(ValidationError, match="together"):
        AzureResourceManager(tenant_id="tenant", client_id="client")


def test_the_block_overrides_the_settings_endpoint() -> None:
    settings = Settings(arm_endpoint="https://management.azure.com")
    block = AzureResourceManager(endpoint="https://127.0.0.1:9", ca_bundle="/ca.pem")

    applied = block.apply_to(settings)

    assert applied.arm_endpoint == "https://127.0.0.1:9"
    assert str(applied.arm_ca_bundle) == "/ca.pem"
    assert AzureResourceManager.from_settings(applied).endpoint == "https://127.0.0.1:9"


def test_every_field_is_described() -> None:
    for block in (AzureResourceManager,):
        fields = block.model_json_schema()["properties"]
        assert all(field.get("description") for field in fields.values()), fields
