"""Microsoft.Storage/storageAccounts: the ARM side of the accounts Azurite serves."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass, replace

from devstack.compute.errors import ArmError
from devstack.compute.operations import iso_time
from devstack.compute.state_files import StateTable, saved_rows
from devstack.config import StackAccount, StackConfig

logger = logging.getLogger(__name__)

ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
KINDS = {"Storage", "StorageV2", "BlobStorage", "BlockBlobStorage", "FileStorage"}
TLS_VERSIONS = {"TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"}


@dataclass(frozen=True)
class Account:
    """One storage account as ARM holds it."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    kind: str
    sku: str
    tags: dict[str, str]
    https_only: bool
    allow_blob_public_access: bool
    minimum_tls_version: str
    created_at: float
    ready_at: float

    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Storage/storageAccounts/"
            f"{self.name}"
        )

    def body(self, config: StackConfig, now: float) -> dict[str, object]:
        """The account JSON azure-mgmt-storage's StorageAccount model reads."""
        # Limitation: Azurite serves plain http whatever supportsHttpsTrafficOnly says.
        blob_endpoint = f"http://{config.host}:{config.blob_port}/{self.name}/"
        tier = "Premium" if self.sku.startswith("Premium") else "Standard"
        return {
            "id": self.resource_id(),
            "name": self.name,
            "type": "Microsoft.Storage/storageAccounts",
            "location": self.location,
            "kind": self.kind,
            "sku": {"name": self.sku, "tier": tier},
            "tags": self.tags,
            "properties": {
                "provisioningState": "Succeeded"
                if now >= self.ready_at
                else "Creating",
                "creationTime": iso_time(self.created_at),
                "primaryLocation": self.location,
                "statusOfPrimary": "available",
                "accessTier": "Hot",
                "supportsHttpsTrafficOnly": self.https_only,
                "allowBlobPublicAccess": self.allow_blob_public_access,
                "minimumTlsVersion": self.minimum_tls_version,
                "primaryEndpoints": {"blob": blob_endpoint},
            },
        }


class AccountStore:
    """Every storage account, each saved to the emulator's state as it changes."""

    def __init__(self, table: StateTable) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._accounts = {a.name: a for a in (Account(**e) for e in table.rows())}

    def named(self, name: str) -> Account | None:
        """The account of that name anywhere: names are unique across Azure."""
        with self._lock:
            return self._accounts.get(name)

    def list(self, subscription_id: str, resource_group: str | None) -> list[Account]:
        with self._lock:
            return [
                a
                for a in self._accounts.values()
                if a.subscription_id.lower() == subscription_id.lower()
                and (
                    resource_group is None
                    or a.resource_group.lower() == resource_group.lower()
                )
            ]

    def put(self, account: Account) -> None:
        with self._lock:
            self._accounts[account.name] = account
            self._table.put(account.name, asdict(account))

    def delete(self, name: str) -> Account | None:
        with self._lock:
            gone = self._accounts.pop(name, None)
            self._table.delete([name])
            return gone


def check_account_name(name: str) -> None:
    """Azure's name rule, answered the way the storage provider answers it."""
    if not ACCOUNT_NAME.match(name):
        raise ArmError(
            400,
            "AccountNameInvalid",
            f"{name} is not a valid storage account name. Storage account name must "
            "be between 3 and 24 characters in length and use numbers and lower-case "
            "letters only.",
        )


def name_availability(store: AccountStore, name: str) -> dict[str, object]:
    """The checkNameAvailability answer for a name."""
    try:
        check_account_name(name)
    except ArmError as exc:
        return {
            "nameAvailable": False,
            "reason": "AccountNameInvalid",
            "message": exc.message,
        }
    if store.named(name) is not None:
        return {
            "nameAvailable": False,
            "reason": "AlreadyExists",
            "message": f"The storage account named {name} is already taken.",
        }
    return {"nameAvailable": True}


def account_from_request(
    subscription_id: str, resource_group: str, name: str, body: object, now: float
) -> Account:
    """A new account from a create request, refused like Azure refuses it."""
    if not isinstance(body, dict):
        body = {}
    if not body.get("location"):
        raise ArmError(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
    sku = (body.get("sku") or {}).get("name")
    kind = body.get("kind")
    if not sku or not kind:
        missing = "sku" if not sku else "kind"
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid: the '{missing}' property is required.",
        )
    if kind not in KINDS:
        raise ArmError(
            400,
            "InvalidValuesForRequestParameters",
            f"Values for request parameters are invalid: kind '{kind}'.",
        )
    properties = body.get("properties") or {}
    return Account(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=name,
        location=str(body["location"]).replace(" ", "").lower(),
        kind=kind,
        sku=sku,
        tags={str(k): str(v) for k, v in (body.get("tags") or {}).items()},
        https_only=bool(properties.get("supportsHttpsTrafficOnly", True)),
        allow_blob_public_access=bool(properties.get("allowBlobPublicAccess", False)),
        minimum_tls_version=_tls(properties.get("minimumTlsVersion", "TLS1_2")),
        created_at=now,
        ready_at=now,
    )


def _tls(value: object) -> str:
    if value not in TLS_VERSIONS:
        raise ArmError(
            400,
            "InvalidValuesForRequestParameters",
            f"Values for request parameters are invalid: minimumTlsVersion '{value}'.",
        )
    return str(value)


def apply_update(account: Account, body: object) -> Account:
    """An account after a PATCH (or a PUT on an existing account)."""
    if not isinstance(body, dict):
        body = {}
    kind = body.get("kind")
    if (
        kind
        and kind != account.kind
        and not (account.kind == "Storage" and kind == "StorageV2")
    ):
        raise ArmError(
            409,
            "AccountPropertyCannotBeUpdated",
            f"The property 'kind' was specified in the input, but it cannot be "
            f"updated from '{account.kind}' to '{kind}'.",
        )
    location = body.get("location")
    if location and str(location).replace(" ", "").lower() != account.location:
        raise ArmError(
            409,
            "InvalidResourceLocation",
            f"The resource '{account.name}' already exists in location "
            f"'{account.location}' in resource group '{account.resource_group}'.",
        )
    properties = body.get("properties") or {}
    changes: dict[str, object] = {}
    if kind:
        changes["kind"] = kind
    if (body.get("sku") or {}).get("name"):
        changes["sku"] = body["sku"]["name"]
    if "tags" in body and body["tags"] is not None:
        changes["tags"] = {str(k): str(v) for k, v in body["tags"].items()}
    if "supportsHttpsTrafficOnly" in properties:
        changes["https_only"] = bool(properties["supportsHttpsTrafficOnly"])
    if "allowBlobPublicAccess" in properties:
        changes["allow_blob_public_access"] = bool(properties["allowBlobPublicAccess"])
    if "minimumTlsVersion" in properties:
        changes["minimum_tls_version"] = _tls(properties["minimumTlsVersion"])
    return replace(account, **changes)  # type: ignore[arg-type]


def has_subscription(
    config: StackConfig, subscription_id: str, known: set[str]
) -> bool:
    """Whether the stack's inventories or its resource groups use the subscription."""
    names = {group.subscription_id.lower() for group in config.resource_groups}
    names |= {account.subscription_id.lower() for account in config.served_accounts}
    return subscription_id.lower() in names | known


def account_id(account: StackAccount) -> str:
    """The ARM id of a stack account where the inventory puts it."""
    return (
        f"/subscriptions/{account.subscription_id}/resourceGroups/"
        f"{account.resource_group}/providers/Microsoft.Storage/storageAccounts/"
        f"{account.name}"
    )


def account_body(config: StackConfig, account: StackAccount) -> dict[str, object]:
    """The ARM id and name of a stack account, for code that names its source."""
    return {"id": account_id(account), "name": account.name, "location": account.region}


def has_resource_group(
    config: StackConfig, subscription_id: str, resource_group: str
) -> bool:
    """Whether the group exists in ARM now, read from the emulator's saved state."""
    groups = saved_rows(config.state_dir / "arm", "resource_groups")
    return any(
        group["subscription_id"].lower() == subscription_id.lower()
        and group["name"].lower() == resource_group.lower()
        and group.get("deleted_at") is None
        for group in groups
    )
