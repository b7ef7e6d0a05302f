"""The emulator's Microsoft.Resources and Microsoft.Storage, driven through the SDKs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.mgmt.storage.models import (
    Sku,
    StorageAccountCheckNameAvailabilityParameters,
    StorageAccountCreateParameters,
)
from azure.storage.blob import BlobServiceClient

from devstack.config import StackConfig

SUB = "55555555-5555-4555-8555-555555555555"
SERVED = "irprov5weu"


@pytest.fixture(scope="module")
async def credential() -> AsyncIterator[DefaultAzureCredential]:
    async with DefaultAzureCredential() as credential:
        yield credential


def _options(stack: StackConfig) -> dict[str, object]:
    return {
        "base_url": stack.arm_endpoint,
        "connection_verify": str(stack.cert_path),
        "polling_interval": 1,
    }


@pytest.fixture
async def resources(
    stack: StackConfig, credential: DefaultAzureCredential
) -> AsyncIterator[ResourceManagementClient]:
    async with ResourceManagementClient(credential, SUB, **_options(stack)) as client:
        yield client


@pytest.fixture
async def storage(
    stack: StackConfig, credential: DefaultAzureCredential
) -> AsyncIterator[StorageManagementClient]:
    async with StorageManagementClient(credential, SUB, **_options(stack)) as client:
        yield client


def _params(location: str | None = "westeurope", kind: str = "StorageV2") -> dict:
    body: dict = {"sku": {"name": "Standard_LRS"}, "kind": kind}
    if location:
        body["location"] = location
    return body


async def test_resource_group_lifecycle(resources: ResourceManagementClient) -> None:
    name = f"rg-{uuid.uuid4().hex[:8]}"
    assert not await resources.resource_groups.check_existence(name)

    created = await resources.resource_groups.create_or_update(
        name, {"location": "West Europe", "tags": {"a": "b"}}
    )
    assert (created.location, created.tags) == ("westeurope", {"a": "b"})
    assert await resources.resource_groups.check_existence(name)
    with pytest.raises(HttpResponseError) as moved:
        await resources.resource_groups.create_or_update(name, {"location": "eastus"})
    assert moved.value.error.code == "InvalidResourceGroupLocation"

    await (await resources.resource_groups.begin_delete(name)).result()
    assert not await resources.resource_groups.check_existence(name)
    with pytest.raises(ResourceNotFoundError) as gone:
        await resources.resource_groups.get(name)
    assert gone.value.error.code == "ResourceGroupNotFound"


async def test_resource_group_needs_a_location(
    resources: ResourceManagementClient,
) -> None:
    with pytest.raises(HttpResponseError) as refused:
        await resources.resource_groups.create_or_update("rg-nowhere", {"tags": {}})
    assert (refused.value.status_code, refused.value.error.code) == (
        400,
        "LocationRequired",
    )


async def test_account_checks_azure_makes(
    resources: ResourceManagementClient, storage: StorageManagementClient
) -> None:
    group = f"rg-{uuid.uuid4().hex[:8]}"
    await resources.resource_groups.create_or_update(group, {"location": "westeurope"})
    refusals = {
        "Bad_Name": ("AccountNameInvalid", _params()),
        SERVED: ("LocationRequired", _params(location=None)),
        "irsub1weu": ("StorageAccountAlreadyTaken", _params()),
        "irnotserved1": ("DevstackAccountNotServed", _params()),
    }
    try:
        for name, (code, body) in refusals.items():
            with pytest.raises(HttpResponseError) as refused:
                await storage.storage_accounts.begin_create(group, name, body)
            assert refused.value.error.code == code, name
        with pytest.raises(ResourceNotFoundError) as no_group:
            await storage.storage_accounts.begin_create("rg-missing", SERVED, _params())
        assert no_group.value.error.code == "ResourceGroupNotFound"

        taken = await storage.storage_accounts.check_name_availability(
            StorageAccountCheckNameAvailabilityParameters(name="irsub1weu")
        )
        assert (taken.name_available, taken.reason) == (False, "AlreadyExists")
        invalid = await storage.storage_accounts.check_name_availability(
            StorageAccountCheckNameAvailabilityParameters(name="No")
        )
        assert (invalid.name_available, invalid.reason) == (False, "AccountNameInvalid")
    finally:
        await (await resources.resource_groups.begin_delete(group)).result()


async def test_account_lifecycle_and_cascading_group_delete(
    stack: StackConfig,
    resources: ResourceManagementClient,
    storage: StorageManagementClient,
) -> None:
    group = f"rg-{uuid.uuid4().hex[:8]}"
    await resources.resource_groups.create_or_update(group, {"location": "westeurope"})
    parameters = StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="Storage", location="westeurope"
    )
    account = await (
        await storage.storage_accounts.begin_create(group, SERVED, parameters)
    ).result()
    assert account.provisioning_state == "Succeeded"
    found = await storage.storage_accounts.get_properties(group, SERVED)
    assert (found.kind, found.location) == ("Storage", "westeurope")

    upgraded = await storage.storage_accounts.update(
        group,
        SERVED,
        {"kind": "StorageV2", "properties": {"minimumTlsVersion": "TLS1_2"}},
    )
    assert upgraded.kind == "StorageV2"
    with pytest.raises(HttpResponseError) as downgrade:
        await storage.storage_accounts.update(group, SERVED, {"kind": "FileStorage"})
    assert downgrade.value.error.code == "AccountPropertyCannotBeUpdated"

    keys = await storage.storage_accounts.list_keys(group, SERVED)
    assert keys.keys_property[0].value == stack.account(SERVED).key
    await storage.blob_containers.create(group, SERVED, "box", {})
    assert (await storage.blob_containers.get(group, SERVED, "box")).name == "box"
    data = BlobServiceClient.from_connection_string(stack.connection_string(SERVED))
    with data:
        assert "box" in [c.name for c in data.list_containers()]

        await (await resources.resource_groups.begin_delete(group)).result()

        assert "box" not in [c.name for c in data.list_containers()]
    with pytest.raises(ResourceNotFoundError):
        await storage.storage_accounts.get_properties(group, SERVED)
    again = await storage.storage_accounts.check_name_availability(
        StorageAccountCheckNameAvailabilityParameters(name=SERVED)
    )
    assert again.name_available
