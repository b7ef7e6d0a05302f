"""The inventory block: releases read it when configured, else the file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import typer

from blocks.inventory import InventoryBlock, load_run_inventory
from devstack.config import StackConfig
from imagerelay.inventory import InventoryError, load_inventory
from imagerelay.settings import get_settings
from tests.conftest import PROVISION_INVENTORY, TEST_INVENTORY

BLOCK = "inventory-block-test"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("IMAGERELAY_INVENTORY_BLOCK", BLOCK)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_every_field_and_nested_field_is_described() -> None:
    schema = InventoryBlock.model_json_schema()
    assert all(f.get("description") for f in schema["properties"].values())
    for name in ("Tier0", "Target"):
        nested = schema["definitions"][name]["properties"]
        assert all(f.get("description") for f in nested.values()), name


def test_an_invalid_block_names_the_field() -> None:
    inventory = load_inventory(TEST_INVENTORY)
    block = InventoryBlock(
        tier0=inventory.tier0, targets=[inventory.targets[0], inventory.targets[0]]
    )

    with pytest.raises(InventoryError, match="repeats subscription"):
        block.inventory()


async def test_without_the_setting_the_file_is_used(stack: StackConfig) -> None:
    assert await load_run_inventory() == load_inventory(TEST_INVENTORY)
    assert await load_run_inventory(str(PROVISION_INVENTORY)) == load_inventory(
        PROVISION_INVENTORY
    )


async def test_the_configured_block_wins_and_edits_apply(
    stack: StackConfig, configured: None
) -> None:
    with pytest.raises(InventoryError, match="run setup to create it"):
        await load_run_inventory()

    inventory = load_inventory(PROVISION_INVENTORY)
    await InventoryBlock.from_inventory(inventory).save(BLOCK, overwrite=True)
    assert await load_run_inventory() == inventory

    block = await InventoryBlock.load(BLOCK)
    block.targets = [t.model_copy(update={"enabled": False}) for t in block.targets]
    await block.save(BLOCK, overwrite=True)
    edited = await load_run_inventory()
    assert edited.enabled_targets == []
    assert await load_run_inventory(str(TEST_INVENTORY)) == load_inventory(
        TEST_INVENTORY
    )


async def test_commands_read_the_configured_block(
    stack: StackConfig, configured: None
) -> None:
    """status, cleanup and images list use the inventory a release uses."""
    from imagerelay.commands.tier0 import run_inventory

    inventory = load_inventory(PROVISION_INVENTORY)
    await InventoryBlock.from_inventory(inventory).save(BLOCK, overwrite=True)
    assert await asyncio.to_thread(run_inventory, None) == inventory
    assert await asyncio.to_thread(run_inventory, TEST_INVENTORY) == load_inventory(
        TEST_INVENTORY
    )

    await InventoryBlock.adelete(BLOCK)
    with pytest.raises(typer.Exit) as exited:
        await asyncio.to_thread(run_inventory, None)
    assert exited.value.exit_code == 2
