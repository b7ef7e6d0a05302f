"""The inventory as a Prefect block, so operators can edit targets in the UI."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, ValidationError

from imagerelay.inventory import (
    Inventory,
    InventoryError,
    Target,
    Tier0,
    describe_errors,
    load_inventory,
)
from imagerelay.settings import get_settings


class InventoryBlock(Block):
    """Tier-0 settings and the targets of every release, edited in the Prefect UI."""

    _block_type_name = "imagerelay Inventory"
    _block_type_slug = "imagerelay-inventory"
    _description = (
        "The imagerelay inventory: the tier-0 account and every target (subscription, "
        "region, storage account, image resource group, enabled). Releases read it "
        "when IMAGERELAY_INVENTORY_BLOCK names it; changes apply at the next release."
    )

    tier0: Tier0 = Field(
        default=...,
        description="The tier-0 account: where golden VHDs land, tier-1 copies "
        "live and the ledger is kept.",
    )
    targets: list[Target] = Field(
        default=...,
        description="Every subscription x region a release delivers an image to; "
        "set enabled to false to skip one.",
    )

    def inventory(self) -> Inventory:
        """The validated inventory, or InventoryError naming each bad field."""
        try:
            return Inventory(tier0=self.tier0, targets=self.targets)
        except ValidationError as exc:
            raise InventoryError(
                f"inventory block is invalid: {describe_errors(exc)}"
            ) from None

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> InventoryBlock:
        return cls(tier0=inventory.tier0, targets=list(inventory.targets))


async def load_run_inventory(path: str | None = None) -> Inventory:
    """The inventory a run uses: the file given, else the configured block, else
    the IMAGERELAY_INVENTORY file."""
    settings = get_settings()
    if path:
        return load_inventory(path)
    if settings.inventory_block:
        try:
            block = await InventoryBlock.load(settings.inventory_block)
        except ValueError as exc:
            raise InventoryError(
                f"IMAGERELAY_INVENTORY_BLOCK names {settings.inventory_block!r}, which "
                f"cannot be loaded ({exc}); run setup to create it from "
                f"{settings.inventory}, or unset the setting to use the file"
            ) from None
        return block.inventory()
    return load_inventory(settings.inventory)
