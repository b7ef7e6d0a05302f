"""Routes of Microsoft.Storage: accounts, their keys, name checks and containers."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from devstack.compute.arm_http import ArmRequest, ArmResponse, Route
from devstack.compute.containers import (
    container_body,
    container_exists,
    create_container,
    not_served,
    wipe_account,
)
from devstack.compute.errors import (
    ArmError,
    resource_group_not_found,
    resource_not_found,
)
from devstack.compute.operations import OperationLog
from devstack.compute.resource_groups import GroupStore
from devstack.compute.storage_accounts import (
    Account,
    AccountStore,
    account_from_request,
    apply_update,
    check_account_name,
    name_availability,
)
from devstack.config import StackConfig

logger = logging.getLogger(__name__)

PROVIDER = r"/providers/microsoft\.storage"
ACCOUNT = PROVIDER + r"/storageaccounts/(?P<name>[^/]+)"


class StorageRoutes:
    """Storage accounts and blob containers, checked as Azure checks them."""

    def __init__(
        self,
        config: StackConfig,
        groups: GroupStore,
        accounts: AccountStore,
        operations: OperationLog,
        create_seconds: float,
    ) -> None:
        self.config = config
        self.groups = groups
        self.accounts = accounts
        self.operations = operations
        self.create_seconds = create_seconds
        # Limitation: kept in memory; a restart mid-create loses the poll URL only.
        self.creating: dict[str, str] = {}

    def routes(self, sub: str, rg: str) -> list[Route]:
        """The patterns and handlers to register under subscription and group."""
        return [
            (
                rg + ACCOUNT + r"/blobservices/default/containers/(?P<container>[^/]+)",
                {"PUT": self.put_container, "GET": self.get_container},
            ),
            (rg + ACCOUNT + r"/listkeys", {"POST": self.list_keys}),
            (
                rg + ACCOUNT,
                {
                    "PUT": self.put_account,
                    "GET": self.get_account,
                    "PATCH": self.patch_account,
                    "DELETE": self.delete_account,
                },
            ),
            (rg + PROVIDER + r"/storageaccounts", {"GET": self.list_accounts}),
            (sub + PROVIDER + r"/storageaccounts", {"GET": self.list_accounts}),
            (sub + PROVIDER + r"/checknameavailability", {"POST": self.check_name}),
            (
                sub
                + PROVIDER
                + r"/locations/(?P<loc>[^/]+)/asyncoperations/(?P<op>[^/]+)",
                {"GET": self.get_create_status},
            ),
        ]

    def _group(self, request: ArmRequest) -> tuple[str, str]:
        sub, rg = request.params["sub"], request.params["rg"]
        if not self.groups.exists(sub, rg):
            raise resource_group_not_found(rg)
        return sub, rg

    def _account(self, request: ArmRequest) -> Account:
        sub, rg = self._group(request)
        name = request.params["name"]
        account = self.accounts.named(name)
        if (
            account is None
            or account.subscription_id.lower() != sub.lower()
            or account.resource_group.lower() != rg.lower()
        ):
            raise resource_not_found("Microsoft.Storage/storageAccounts", name, rg)
        return account

    def _body(self, account: Account) -> dict[str, object]:
        return account.body(self.config, time.time())

    def put_account(self, request: ArmRequest) -> ArmResponse:
        """Create an account (202, Location to poll), or update it in place (200)."""
        sub, rg = self._group(request)
        name = request.params["name"]
        check_account_name(name)
        body = request.json()
        existing = self.accounts.named(name)
        if existing is not None:
            if (existing.subscription_id.lower(), existing.resource_group.lower()) != (
                sub.lower(),
                rg.lower(),
            ):
                raise ArmError(
                    409,
                    "StorageAccountAlreadyTaken",
                    f"The storage account named {name} is already taken.",
                )
            updated = apply_update(existing, body)
            self.accounts.put(updated)
            return ArmResponse(200, self._body(updated))

        now = time.time()
        account = account_from_request(sub, rg, name, body, now)
        if self.config.account(name) is None:
            raise not_served(name)
        account = replace(account, ready_at=now + self.create_seconds)
        self.accounts.put(account)
        operation = self.operations.start(sub, account.location, self.create_seconds)
        self.creating[operation.id] = name
        location = (
            f"{request.origin}/subscriptions/{sub}/providers/Microsoft.Storage/"
            f"locations/{account.location}/asyncoperations/{operation.id}"
            f"?monitor=true&api-version={request.api_version}"
        )
        logger.info(
            "Creating storage account %s in %s", account.resource_id(), account.location
        )
        return ArmResponse(202, None, {"Location": location, "Retry-After": "1"})

    def get_create_status(self, request: ArmRequest) -> ArmResponse:
        """Poll a create: 202 while it runs, then 200 with the account, as Azure."""
        operation = self.operations.get(request.params["sub"], request.params["op"])
        name = self.creating.get(request.params["op"].lower())
        account = self.accounts.named(name) if name else None
        if operation is None or account is None:
            raise ArmError(
                404,
                "NotFound",
                f"The operation '{request.params['op']}' was not found.",
            )
        if time.time() < operation.done_at:
            return ArmResponse(202, None, {"Retry-After": "1"})
        return ArmResponse(200, self._body(account))

    def get_account(self, request: ArmRequest) -> ArmResponse:
        """GET one storage account's properties."""
        return ArmResponse(200, self._body(self._account(request)))

    def patch_account(self, request: ArmRequest) -> ArmResponse:
        """Update the settings Azure lets change; kind changes are refused."""
        updated = apply_update(self._account(request), request.json())
        self.accounts.put(updated)
        logger.info("Updated storage account %s", updated.resource_id())
        return ArmResponse(200, self._body(updated))

    def delete_account(self, request: ArmRequest) -> ArmResponse:
        """Delete the account and its data (200), or 204 when there is none."""
        self._group(request)
        try:
            account = self._account(request)
        except ArmError:
            return ArmResponse(204, None)
        self.delete_with_data(account.name)
        return ArmResponse(200, None)

    def delete_with_data(self, name: str) -> None:
        """Remove an account from ARM and empty it in Azurite, as Azure would."""
        self.accounts.delete(name)
        wipe_account(self.config, name)
        logger.info("Deleted storage account %s", name)

    def delete_group_accounts(self, subscription_id: str, resource_group: str) -> None:
        """The accounts part of a resource group's cascading delete."""
        for account in self.accounts.list(subscription_id, resource_group):
            self.delete_with_data(account.name)

    def list_accounts(self, request: ArmRequest) -> ArmResponse:
        """GET the storage accounts of a resource group or of a subscription."""
        rg = request.params.get("rg")
        if rg is not None:
            self._group(request)
        accounts = self.accounts.list(request.params["sub"], rg)
        return ArmResponse(200, {"value": [self._body(a) for a in accounts]})

    def list_keys(self, request: ArmRequest) -> ArmResponse:
        """POST listKeys: the key Azurite was started with, as key1 and key2."""
        account = self._account(request)
        served = self.config.account(account.name)
        if served is None:
            raise not_served(account.name)
        keys = [
            {"keyName": name, "value": served.key, "permissions": "FULL"}
            for name in ("key1", "key2")
        ]
        return ArmResponse(200, {"keys": keys})

    def check_name(self, request: ArmRequest) -> ArmResponse:
        """POST checkNameAvailability for a storage account name."""
        body = request.json()
        name = str(body.get("name", "")) if isinstance(body, dict) else ""
        return ArmResponse(200, name_availability(self.accounts, name))

    def put_container(self, request: ArmRequest) -> ArmResponse:
        """Create a container (201), or answer 200 when it exists."""
        account = self._account(request)
        name = request.params["container"]
        created = create_container(self.config, account, name)
        return ArmResponse(201 if created else 200, container_body(account, name))

    def get_container(self, request: ArmRequest) -> ArmResponse:
        """GET a container, or ARM's ContainerNotFound."""
        account = self._account(request)
        name = request.params["container"]
        if not container_exists(self.config, account, name):
            raise ArmError(
                404, "ContainerNotFound", "The specified container does not exist."
            )
        return ArmResponse(200, container_body(account, name))
