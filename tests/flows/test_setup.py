"""Setup provisions an inventory idempotently; remove takes back only what it made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.storage.blob import BlobServiceClient
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from typer.testing import CliRunner

from devstack.config import StackConfig
from flows.setup import setup_flow
from imagerelay.cli import app
from imagerelay.inventory import load_inventory
from imagerelay.provision_plan import MANAGED_TAG, Step
from imagerelay.settings import get_settings
from tests.conftest import PROVISION_INVENTORY
from tests.devstack.test_compute_emulator import (
    VIRTUAL_SIZE,
    Placement,
    image_body,
    upload_page_vhd,
    vhd_footer,
)

SUB4 = "44444444-4444-4444-8444-444444444444"
runner = CliRunner()
INVENTORY = str(PROVISION_INVENTORY)


@pytest.fixture(scope="module", autouse=True)
async def set_up_demo_again(stack: StackConfig) -> AsyncIterator[None]:
    """Remove deletes the global copies limit every inventory shares: restore it."""
    yield
    await setup_flow()


@pytest.fixture(autouse=True)
def own_block_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Blocks of these tests under their own names, so the release's stay."""
    monkeypatch.setenv("IMAGERELAY_TIER0_BLOCK", "provision-tier0")
    monkeypatch.setenv("IMAGERELAY_INVENTORY_BLOCK", "provision-inventory")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
async def storage4(stack: StackConfig) -> AsyncIterator[StorageManagementClient]:
    async with (
        DefaultAzureCredential() as credential,
        StorageManagementClient(
            credential,
            SUB4,
            base_url=stack.arm_endpoint,
            connection_verify=str(stack.cert_path),
        ) as client,
    ):
        yield client


@pytest.fixture
async def resources4(stack: StackConfig) -> AsyncIterator[ResourceManagementClient]:
    async with (
        DefaultAzureCredential() as credential,
        ResourceManagementClient(
            credential,
            SUB4,
            base_url=stack.arm_endpoint,
            connection_verify=str(stack.cert_path),
        ) as client,
    ):
        yield client


def actions(steps: list[Step], kind: str) -> dict[str, str]:
    return {step.name: step.action for step in steps if step.kind == kind}


async def test_dry_run_plans_everything_and_changes_nothing(
    stack: StackConfig,
    resources4: ResourceManagementClient,
    storage4: StorageManagementClient,
) -> None:
    # An operator's group that setup must use but never claim.
    await resources4.resource_groups.create_or_update(
        "provision-kept", {"location": "northeurope"}
    )

    report = await setup_flow(inventory=INVENTORY, dry_run=True)

    assert not report.applied
    assert actions(report.steps, "storage account") == {
        "irprovtier0": "create",
        "irprov4weu": "create",
        "irprov4neu": "create",
        "irprov5weu": "create",
    }
    groups = actions(report.steps, "resource group")
    assert groups == {
        "provision-tier0": "create",
        "provision-kept": "keep",
        "provision-storage5": "create",
    }
    assert actions(report.steps, "block")["provision-inventory"] == "create"
    assert not await resources4.resource_groups.check_existence("provision-tier0")
    async with get_client() as client:
        with pytest.raises(ObjectNotFound):
            await client.read_global_concurrency_limit_by_name(
                "imagerelay-copies-irprov4weu"
            )


async def test_setup_creates_then_keeps(
    stack: StackConfig, storage4: StorageManagementClient
) -> None:
    first = await setup_flow(inventory=INVENTORY)
    second = await setup_flow(inventory=INVENTORY)

    assert first.applied
    assert {s.action for s in second.steps} == {"keep"}
    account = await storage4.storage_accounts.get_properties(
        "provision-tier0", "irprovtier0"
    )
    assert (account.kind, account.sku.name) == ("StorageV2", "Standard_LRS")
    assert account.properties.enable_https_traffic_only is True
    assert account.properties.allow_blob_public_access is False
    assert account.properties.minimum_tls_version == "TLS1_2"
    assert account.tags == {"imagerelay-managed": "true"}
    data = BlobServiceClient.from_connection_string(
        stack.connection_string("irprov4neu")
    )
    with data:
        assert data.get_container_client("vhds").exists()
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(
            "imagerelay-copies-irprov4neu"
        )
    assert limit.active


async def test_drifted_account_is_updated_and_a_wrong_kind_refused(
    storage4: StorageManagementClient,
) -> None:
    await setup_flow(inventory=INVENTORY)
    await storage4.storage_accounts.update(
        "provision-images4",
        "irprov4weu",
        {"properties": {"allowBlobPublicAccess": True, "minimumTlsVersion": "TLS1_0"}},
    )

    plan = await setup_flow(inventory=INVENTORY, dry_run=True)
    step = next(s for s in plan.steps if s.name == "irprov4weu")
    assert step.action == "update"
    assert "public blob access True -> False" in step.detail
    await setup_flow(inventory=INVENTORY)
    fixed = await storage4.storage_accounts.get_properties(
        "provision-images4", "irprov4weu"
    )
    assert fixed.properties.allow_blob_public_access is False
    assert fixed.properties.minimum_tls_version == "TLS1_2"

    await storage4.storage_accounts.delete("provision-images4", "irprov4weu")
    await (
        await storage4.storage_accounts.begin_create(
            "provision-images4",
            "irprov4weu",
            {
                "location": "westeurope",
                "kind": "BlobStorage",
                "sku": {"name": "Standard_LRS"},
            },
        )
    ).result()
    state = await setup_flow(inventory=INVENTORY, dry_run=True, return_state=True)
    assert state.is_failed()
    assert "irprov4weu: kind is BlobStorage" in (state.message or "")
    await storage4.storage_accounts.delete("provision-images4", "irprov4weu")


def test_setup_command_prints_the_plan(stack: StackConfig) -> None:
    result = runner.invoke(app, ["setup", "--dry-run", "--inventory", INVENTORY])

    assert result.exit_code == 0, result.output
    assert "Setup plan (dry run: nothing changed)" in result.output
    assert "irprovtier0" in result.output


def test_setup_with_a_broken_inventory_says_why_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "inventory.yaml"
    broken.write_text(Path(INVENTORY).read_text().replace("region:", "regoin:", 1))

    result = runner.invoke(app, ["setup", "--dry-run", "--inventory", str(broken)])

    assert result.exit_code == 2
    assert f"{broken} is invalid: tier0.region: Field required" in result.output
    assert "Traceback" not in result.output


def test_remove_asks_then_deletes_only_what_setup_made(stack: StackConfig) -> None:
    assert runner.invoke(app, ["setup", "--inventory", INVENTORY]).exit_code == 0

    ended = runner.invoke(app, ["remove", "--inventory", INVENTORY], input="")
    assert ended.exit_code == 2
    assert "no confirmation was typed (input ended): nothing was removed" in (
        ended.output
    )

    refused = runner.invoke(
        app, ["remove", "--inventory", INVENTORY], input="irsub1weu\n"
    )
    assert refused.exit_code == 2
    assert "nothing was removed" in refused.output

    done = runner.invoke(
        app, ["remove", "--inventory", INVENTORY], input="irprovtier0\n"
    )
    assert done.exit_code == 0, done.output
    assert "not created by setup" in done.output

    again = runner.invoke(app, ["setup", "--dry-run", "--inventory", INVENTORY])
    assert again.exit_code == 0, again.output
    lines = [line for line in again.output.splitlines() if "provision-kept" in line]
    assert any("keep" in line for line in lines)
    assert "irprovtier0" in again.output
    counted = load_inventory(PROVISION_INVENTORY)
    assert again.output.count("create") >= len(counted.storage_accounts)


async def test_remove_deletes_release_images_but_not_the_operators(
    stack: StackConfig,
) -> None:
    sub5, group = "55555555-5555-4555-8555-555555555555", "provision-images5"
    options = {
        "base_url": stack.arm_endpoint,
        "connection_verify": str(stack.cert_path),
    }
    async with (
        DefaultAzureCredential() as credential,
        ResourceManagementClient(credential, sub5, **options) as resources,
        ComputeManagementClient(credential, sub5, **options) as compute,
    ):
        await resources.resource_groups.create_or_update(
            group, {"location": "westeurope", "tags": {MANAGED_TAG: "true"}}
        )
        await setup_flow(inventory=INVENTORY)
        placement = Placement(stack.account("irprov5weu"), "vhds")
        upload_page_vhd(
            stack, placement, "good.vhd", vhd_footer(VIRTUAL_SIZE), VIRTUAL_SIZE + 512
        )
        for name, tags in (("ours", {"imagerelay-release": "2026.12"}), ("theirs", {})):
            body = image_body("westeurope", placement.url(stack, "good.vhd"))
            await (
                await compute.images.begin_create_or_update(
                    group, name, {**body, "tags": tags}
                )
            ).result()

        result = await asyncio.to_thread(
            runner.invoke, app, ["remove", "--yes", "--inventory", INVENTORY]
        )

        assert result.exit_code == 0, result.output
        assert "holds theirs, not made by imagerelay" in result.output
        left = [
            image.name async for image in compute.images.list_by_resource_group(group)
        ]
        assert left == ["theirs"]
        assert await resources.resource_groups.check_existence(group)
        await (await resources.resource_groups.begin_delete(group)).result()
