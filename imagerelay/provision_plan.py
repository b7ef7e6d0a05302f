"""What setup provisions for an inventory, and the plan of steps it prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from imagerelay.inventory import Inventory

Action = Literal["create", "keep", "update", "refuse", "delete"]

MANAGED_TAG = "imagerelay-managed"
MANAGED_TAGS = {MANAGED_TAG: "true"}


class Step(BaseModel):
    """One resource in a setup or remove plan and what happens to it."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    where: str
    action: Action
    detail: str = ""


@dataclass(frozen=True)
class AccountSettings:
    """The settings every tier-0 and tier-2 storage account must have."""

    kind: str = "StorageV2"
    sku: str = "Standard_LRS"
    https_only: bool = True
    allow_blob_public_access: bool = False
    minimum_tls_version: str = "TLS1_2"


ACCOUNT_SETTINGS = AccountSettings()


@dataclass(frozen=True)
class GroupSpec:
    subscription_id: str
    name: str
    location: str


@dataclass(frozen=True)
class AccountSpec:
    subscription_id: str
    resource_group: str
    name: str
    location: str


@dataclass(frozen=True)
class ContainerSpec:
    subscription_id: str
    resource_group: str
    account: str
    name: str


@dataclass(frozen=True)
class AzureSpec:
    """Resource groups, storage accounts and containers an inventory needs."""

    groups: list[GroupSpec]
    accounts: list[AccountSpec]
    containers: list[ContainerSpec]
    image_groups: list[GroupSpec]


def azure_spec(inventory: Inventory) -> AzureSpec:
    """Tier-0 and every target's account, their groups and containers.

    A group takes the region of the first account or target that needs it.
    """
    tier0 = inventory.tier0
    groups = {
        (tier0.subscription_id, tier0.resource_group.lower()): GroupSpec(
            tier0.subscription_id, tier0.resource_group, tier0.region
        )
    }
    accounts = {
        tier0.storage_account: AccountSpec(
            tier0.subscription_id,
            tier0.resource_group,
            tier0.storage_account,
            tier0.region,
        )
    }
    containers = {
        (tier0.storage_account, tier0.container): ContainerSpec(
            tier0.subscription_id,
            tier0.resource_group,
            tier0.storage_account,
            tier0.container,
        )
    }
    image_groups: dict[tuple[str, str], GroupSpec] = {}
    for target in inventory.targets:
        sub, group = target.subscription_id, target.account_resource_group
        groups.setdefault((sub, group.lower()), GroupSpec(sub, group, target.region))
        accounts.setdefault(
            target.storage_account,
            AccountSpec(sub, group, target.storage_account, target.region),
        )
        containers.setdefault(
            (target.storage_account, target.container),
            ContainerSpec(sub, group, target.storage_account, target.container),
        )
        image_groups.setdefault(
            (sub, target.image_resource_group.lower()),
            GroupSpec(sub, target.image_resource_group, target.region),
        )
    for key in image_groups:
        groups.pop(key, None)
    return AzureSpec(
        groups=list(groups.values()),
        accounts=list(accounts.values()),
        containers=list(containers.values()),
        image_groups=list(image_groups.values()),
    )


def account_drift(
    kind: str | None,
    sku: str | None,
    https_only: bool | None,
    allow_blob_public_access: bool | None,
    minimum_tls_version: str | None,
) -> tuple[list[str], str | None]:
    """The settings to change on an existing account, and a refusal if any.

    Azure upgrades kind Storage to StorageV2 in place but changes no other kind,
    and moves no account between Standard and Premium.
    """
    want = ACCOUNT_SETTINGS
    if kind != want.kind and kind != "Storage":
        return [], (
            f"kind is {kind}, which Azure cannot change to {want.kind}; move the "
            "data to a new StorageV2 account and rename it in the inventory"
        )
    if sku and sku.startswith("Premium"):
        return [], (
            f"SKU is {sku}, which Azure cannot change to {want.sku}; use a new "
            "Standard_LRS account"
        )
    changes = []
    for label, have, wanted in (
        ("kind", kind, want.kind),
        ("sku", sku, want.sku),
        ("https only", https_only, want.https_only),
        ("public blob access", bool(allow_blob_public_access), False),
        ("minimum TLS", minimum_tls_version, want.minimum_tls_version),
    ):
        if have != wanted:
            changes.append(f"{label} {have} -> {wanted}")
    return changes, None


def is_managed(tags: dict[str, str] | None) -> bool:
    """Whether setup created the resource (and remove may delete it)."""
    return (tags or {}).get(MANAGED_TAG) == "true"


def refusals(steps: list[Step]) -> list[Step]:
    return [step for step in steps if step.action == "refuse"]
