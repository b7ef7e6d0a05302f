"""Microsoft.Storage/storageAccounts as ARM would describe the Azurite accounts."""

from __future__ import annotations

from devstack.compute.errors import resource_group_not_found, resource_not_found
from devstack.compute.operations import iso_time
from devstack.config import StackAccount, StackConfig

CREATED = 1_700_000_000.0


def account_body(config: StackConfig, account: StackAccount) -> dict[str, object]:
    """The storage account JSON azure-mgmt-storage's StorageAccount model reads."""
    blob_endpoint = f"http://{config.host}:{config.blob_port}/{account.name}/"
    return {
        "id": (
            f"/subscriptions/{account.subscription_id}/resourceGroups/"
            f"{account.resource_group}/providers/Microsoft.Storage/storageAccounts/"
            f"{account.name}"
        ),
        "name": account.name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": account.region,
        "kind": "StorageV2",
        "sku": {"name": "Standard_LRS", "tier": "Standard"},
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "creationTime": iso_time(CREATED),
            "primaryLocation": account.region,
            "statusOfPrimary": "available",
            "accessTier": "Hot",
            "supportsHttpsTrafficOnly": False,
            "allowBlobPublicAccess": False,
            "minimumTlsVersion": "TLS1_2",
            "primaryEndpoints": {"blob": blob_endpoint},
        },
    }


def find_account(
    config: StackConfig, subscription_id: str, resource_group: str, name: str
) -> StackAccount:
    """The account in that subscription and resource group, or ARM's 404."""
    if not has_resource_group(config, subscription_id, resource_group):
        raise resource_group_not_found(resource_group)
    for account in config.accounts:
        if (
            account.name == name
            and account.subscription_id.lower() == subscription_id.lower()
            and account.resource_group.lower() == resource_group.lower()
        ):
            return account
    raise resource_not_found("Microsoft.Storage/storageAccounts", name, resource_group)


def list_accounts(
    config: StackConfig, subscription_id: str, resource_group: str | None
) -> list[StackAccount]:
    """Accounts of a subscription, or of one resource group in it."""
    if resource_group is not None and not has_resource_group(
        config, subscription_id, resource_group
    ):
        raise resource_group_not_found(resource_group)
    return [
        account
        for account in config.accounts
        if account.subscription_id.lower() == subscription_id.lower()
        and (
            resource_group is None
            or account.resource_group.lower() == resource_group.lower()
        )
    ]


def has_resource_group(
    config: StackConfig, subscription_id: str, resource_group: str
) -> bool:
    """Whether the configuration declares the resource group."""
    return any(
        group.subscription_id.lower() == subscription_id.lower()
        and group.name.lower() == resource_group.lower()
        for group in config.resource_groups
    )


def has_subscription(config: StackConfig, subscription_id: str) -> bool:
    """Whether any resource group or account lives in the subscription."""
    known = {group.subscription_id.lower() for group in config.resource_groups}
    known |= {account.subscription_id.lower() for account in config.accounts}
    return subscription_id.lower() in known
