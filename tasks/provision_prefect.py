"""The Prefect side of setup: imagerelay's blocks and the work pool."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from prefect_azure.credentials import AzureBlobStorageCredentials

from blocks.arm import AzureResourceManager
from blocks.inventory import InventoryBlock
from blocks.tier0 import Tier0Storage
from imagerelay.inventory import Inventory
from imagerelay.provision_plan import Step
from imagerelay.settings import Settings

WORK_POOL_TEMPLATE = (
    Path(__file__).resolve().parents[1] / "deployments" / "process-work-pool.json"
)
BLOCK_TYPES: list[type[Block]] = [Tier0Storage, InventoryBlock, AzureResourceManager]


def tier0_block(settings: Settings, inventory: Inventory) -> Tier0Storage:
    """The tier-0 block the settings describe: a connection string, else the URL."""
    if settings.tier0_connection_string is not None:
        credentials = AzureBlobStorageCredentials(
            connection_string=settings.tier0_connection_string
        )
    else:
        url = settings.blob_endpoint.format(account=inventory.tier0.storage_account)
        credentials = AzureBlobStorageCredentials(account_url=url)
    return Tier0Storage(credentials=credentials)


def _same_tier0(a: Tier0Storage, b: Tier0Storage) -> bool:
    def secret(block: Tier0Storage) -> str | None:
        value = block.credentials.connection_string
        return value.get_secret_value() if value is not None else None

    return secret(a) == secret(b) and str(a.credentials.account_url) == str(
        b.credentials.account_url
    )


async def _load(block_type: type[Block], name: str) -> Block | None:
    try:
        return await block_type.load(name)
    except ValueError:
        return None


@task(name="plan-blocks")
async def plan_blocks(settings: Settings, inventory: Inventory) -> list[Step]:
    """The tier-0 block follows the settings; the inventory and ARM blocks, when
    configured, are created from the file and settings once and then kept."""
    steps = []
    wanted = tier0_block(settings, inventory)
    existing = await _load(Tier0Storage, settings.tier0_block)
    if existing is None:
        action = "create"
    elif isinstance(existing, Tier0Storage) and _same_tier0(existing, wanted):
        action = "keep"
    else:
        action = "update"
    steps.append(
        Step(
            kind="block",
            name=settings.tier0_block,
            where="prefect",
            action=action,
            detail="imagerelay Tier-0 Storage",
        )
    )
    for name, block_type in (
        (settings.inventory_block, InventoryBlock),
        (settings.arm_block, AzureResourceManager),
    ):
        if name:
            found = await _load(block_type, name)
            steps.append(
                Step(
                    kind="block",
                    name=name,
                    where="prefect",
                    action="keep" if found else "create",
                    detail=block_type.get_block_type_name(),
                )
            )
    async with get_client() as client:
        try:
            await client.read_work_pool(settings.work_pool)
            action = "keep"
        except ObjectNotFound:
            action = "create"
    steps.append(
        Step(
            kind="work pool",
            name=settings.work_pool,
            where="prefect",
            action=action,
            detail="process",
        )
    )
    return steps


@task(name="apply-blocks")
async def apply_blocks(
    settings: Settings, inventory: Inventory, steps: list[Step]
) -> None:
    """Register the block types, then save the blocks and pool the plan creates."""
    for block_type in BLOCK_TYPES:
        await block_type.register_type_and_schema()
    todo = {
        (s.kind, s.name, s.detail) for s in steps if s.action in ("create", "update")
    }
    if ("block", settings.tier0_block, "imagerelay Tier-0 Storage") in todo:
        await tier0_block(settings, inventory).save(
            settings.tier0_block, overwrite=True
        )
    if (
        "block",
        settings.inventory_block,
        InventoryBlock.get_block_type_name(),
    ) in todo:
        await InventoryBlock.from_inventory(inventory).save(
            str(settings.inventory_block)
        )
    arm = ("block", settings.arm_block, AzureResourceManager.get_block_type_name())
    if arm in todo:
        await AzureResourceManager.from_settings(settings).save(str(settings.arm_block))
    if ("work pool", settings.work_pool, "process") in todo:
        async with get_client() as client:
            await client.create_work_pool(
                WorkPoolCreate(
                    name=settings.work_pool,
                    type="process",
                    base_job_template=json.loads(WORK_POOL_TEMPLATE.read_text()),
                )
            )
    get_run_logger().info("Blocks and work pool in place")


async def plan_prefect_removal(settings: Settings, limits: list[str]) -> list[Step]:
    """The limits and blocks setup made for the inventory that exist now."""
    steps = []
    async with get_client() as client:
        for name in limits:
            try:
                await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                continue
            steps.append(
                Step(
                    kind="concurrency limit",
                    name=name,
                    where="prefect",
                    action="delete",
                )
            )
    for name, block_type in (
        (settings.tier0_block, Tier0Storage),
        (settings.inventory_block, InventoryBlock),
        (settings.arm_block, AzureResourceManager),
    ):
        if name and await _load(block_type, name) is not None:
            steps.append(
                Step(
                    kind="block",
                    name=name,
                    where="prefect",
                    action="delete",
                    detail=block_type.get_block_type_slug(),
                )
            )
    return steps


async def apply_prefect_removal(steps: list[Step]) -> None:
    """Delete the limits and blocks of a removal plan."""
    async with get_client() as client:
        for step in steps:
            if step.action != "delete":
                continue
            if step.kind == "concurrency limit":
                await client.delete_global_concurrency_limit_by_name(step.name)
            elif step.kind == "block":
                document = await client.read_block_document_by_name(
                    step.name, step.detail
                )
                await client.delete_block_document(document.id)
