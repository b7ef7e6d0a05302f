"""Blob containers through ARM (blobServices/default/containers), kept in Azurite."""

from __future__ import annotations

import logging
import re

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devstack.compute.errors import ArmError
from devstack.compute.storage_accounts import Account
from devstack.config import StackConfig

logger = logging.getLogger(__name__)

CONTAINER_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def check_container_name(name: str) -> None:
    if not CONTAINER_NAME.match(name):
        raise ArmError(
            400,
            "ContainerOperationFailure",
            f"The specified resource name '{name}' contains invalid characters: "
            "container names are 3-63 lowercase letters, digits and single dashes, "
            "starting and ending with a letter or digit.",
        )


def _service(config: StackConfig, account: str) -> BlobServiceClient:
    served = config.account(account)
    if served is None:
        raise not_served(account)
    return BlobServiceClient.from_connection_string(
        config.connection_string(account), connection_timeout=10, read_timeout=30
    )


def not_served(account: str) -> ArmError:
    """The devstack's refusal for an account Azurite was not started with."""
    return ArmError(
        400,
        "DevstackAccountNotServed",
        f"The local stack's Azurite does not serve storage account '{account}': its "
        "accounts are fixed when it starts. Add the account to the inventory and "
        "restart the stack (`imagerelay stack down`, then `imagerelay stack up "
        "--inventory FILE`).",
    )


def container_body(account: Account, name: str) -> dict[str, object]:
    """The container as azure-mgmt-storage's BlobContainer model reads it."""
    return {
        "id": f"{account.resource_id()}/blobServices/default/containers/{name}",
        "name": name,
        "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
        "properties": {"publicAccess": "None", "hasImmutabilityPolicy": False},
    }


def create_container(config: StackConfig, account: Account, name: str) -> bool:
    """Create the container in Azurite; False when it was already there."""
    check_container_name(name)
    with _service(config, account.name) as service:
        try:
            service.create_container(name)
        except ResourceExistsError:
            return False
    logger.info("Created container %s/%s", account.name, name)
    return True


def container_exists(config: StackConfig, account: Account, name: str) -> bool:
    with _service(config, account.name) as service:
        return bool(service.get_container_client(name).exists())


def wipe_account(config: StackConfig, account: str) -> int:
    """Delete every container of an account whose ARM resource was deleted."""
    if config.account(account) is None:
        return 0
    deleted = 0
    with _service(config, account) as service:
        for container in service.list_containers():
            try:
                service.delete_container(container.name)
                deleted += 1
            except ResourceNotFoundError:
                pass
    logger.info("Deleted %d containers of removed account %s", deleted, account)
    return deleted
