"""The concurrency limits a release runs under, named from the inventory.

They replace the old "150 jobs per Automation account" cap: one limit for all copies,
one per storage account (as source or destination) and one for image creation per
subscription. Prefect holds them; this module only says which exist and how large.
"""

from __future__ import annotations

from imagerelay.inventory import Inventory
from imagerelay.settings import Settings

ALL_COPIES = "imagerelay-copies"


def account_copies(account: str) -> str:
    return f"imagerelay-copies-{account}"


def subscription_images(subscription_id: str) -> str:
    return f"imagerelay-images-{subscription_id}"


def copy_limits(source_account: str, destination_account: str) -> list[str]:
    """The limits one copy occupies a slot of."""
    names = [ALL_COPIES, account_copies(source_account)]
    if destination_account != source_account:
        names.append(account_copies(destination_account))
    return names


def image_limits(subscription_id: str) -> list[str]:
    """The limits one image creation occupies a slot of."""
    return [subscription_images(subscription_id)]


def planned_limits(inventory: Inventory, settings: Settings) -> dict[str, int]:
    """Every limit the inventory needs, with its size from the settings."""
    limits = {ALL_COPIES: settings.limit_copies}
    for account in inventory.storage_accounts:
        limits[account_copies(account)] = settings.limit_copies_per_account
    for target in inventory.targets:
        limits[subscription_images(target.subscription_id)] = (
            settings.limit_images_per_subscription
        )
    return limits
