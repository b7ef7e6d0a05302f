"""Microsoft.Resources/resourceGroups: created, read, probed and deleted like ARM."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from devstack.compute.arm_http import ArmRequest, ArmResponse, Route
from devstack.compute.errors import ArmError, resource_group_not_found
from devstack.compute.operations import OperationLog
from devstack.compute.state_files import StateTable, row_key

logger = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")


@dataclass(frozen=True)
class Group:
    """One resource group and, while it is being deleted, when that began."""

    subscription_id: str
    name: str
    location: str
    tags: dict[str, str]
    deleted_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.subscription_id.lower(), self.name.lower())

    def body(self) -> dict[str, object]:
        """The group as azure-mgmt-resource's ResourceGroup model reads it."""
        state = "Deleting" if self.deleted_at is not None else "Succeeded"
        return {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}",
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "tags": self.tags,
            "properties": {"provisioningState": state},
        }


class GroupStore:
    """Every resource group, each saved to the emulator's state as it changes."""

    def __init__(self, table: StateTable, delete_seconds: float) -> None:
        self._table = table
        self._delete_seconds = delete_seconds
        self._lock = threading.Lock()
        self._groups = {g.key: g for g in (Group(**e) for e in table.rows())}

    def _purge(self, now: float) -> None:
        gone = [
            key
            for key, group in self._groups.items()
            if group.deleted_at is not None
            and now >= group.deleted_at + self._delete_seconds
        ]
        for key in gone:
            del self._groups[key]
        if gone:
            self._table.delete(row_key(*key) for key in gone)

    def get(self, subscription_id: str, name: str) -> Group | None:
        """The group, including one being deleted."""
        with self._lock:
            self._purge(time.time())
            return self._groups.get((subscription_id.lower(), name.lower()))

    def exists(self, subscription_id: str, name: str) -> bool:
        """Whether the group exists and is not being deleted."""
        group = self.get(subscription_id, name)
        return group is not None and group.deleted_at is None

    def subscriptions(self) -> set[str]:
        with self._lock:
            return {group.subscription_id.lower() for group in self._groups.values()}

    def put(self, group: Group) -> None:
        with self._lock:
            self._groups[group.key] = group
            self._table.put(row_key(*group.key), asdict(group))


class ResourceGroupRoutes:
    """PUT, GET, HEAD and DELETE of resource groups; DELETE cascades."""

    def __init__(
        self,
        groups: GroupStore,
        operations: OperationLog,
        delete_seconds: float,
        on_delete: Callable[[str, str], None],
    ) -> None:
        self.groups = groups
        self.operations = operations
        self.delete_seconds = delete_seconds
        self.on_delete = on_delete

    def routes(self, sub: str) -> list[Route]:
        """The patterns and handlers to register under a subscription pattern."""
        group = sub + r"/resourcegroups/(?P<rg>[^/]+)"
        return [
            (
                group,
                {
                    "PUT": self.put,
                    "GET": self.get,
                    "HEAD": self.head,
                    "DELETE": self.delete,
                },
            )
        ]

    def put(self, request: ArmRequest) -> ArmResponse:
        """Create (201) or update the tags of (200) a resource group."""
        sub, name = request.params["sub"], request.params["rg"]
        if not GROUP_NAME.match(name):
            raise ArmError(
                400,
                "InvalidResourceGroup",
                f"The provided resource group name '{name}' has these invalid "
                "characters or is too long: use up to 90 letters, digits, '.', '_', "
                "'-', '(' or ')', not ending in '.'.",
            )
        body = request.json()
        if not isinstance(body, dict) or not body.get("location"):
            raise ArmError(
                400,
                "LocationRequired",
                "The location property is required for this definition.",
            )
        location = str(body["location"]).replace(" ", "").lower()
        tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        existing = self.groups.get(sub, name)
        if existing is not None and existing.deleted_at is not None:
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{name}' is in deprovisioning state and cannot "
                "perform this operation.",
            )
        if existing is not None:
            if existing.location != location:
                raise ArmError(
                    409,
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{location}'. The Resource "
                    f"group already exists in location '{existing.location}'.",
                )
            updated = replace(existing, tags=tags)
            self.groups.put(updated)
            return ArmResponse(200, updated.body())
        group = Group(subscription_id=sub, name=name, location=location, tags=tags)
        self.groups.put(group)
        logger.info("Created resource group %s/%s in %s", sub, name, location)
        return ArmResponse(201, group.body())

    def _found(self, request: ArmRequest) -> Group:
        group = self.groups.get(request.params["sub"], request.params["rg"])
        if group is None:
            raise resource_group_not_found(request.params["rg"])
        return group

    def get(self, request: ArmRequest) -> ArmResponse:
        """GET one resource group."""
        return ArmResponse(200, self._found(request).body())

    def head(self, request: ArmRequest) -> ArmResponse:
        """HEAD: 204 when the group exists, 404 when not (no body either way)."""
        found = self.groups.get(request.params["sub"], request.params["rg"])
        return ArmResponse(204 if found else 404, None)

    def delete(self, request: ArmRequest) -> ArmResponse:
        """Start deleting the group and everything in it (202, Location to poll)."""
        group = self._found(request)
        now = time.time()
        if group.deleted_at is None:
            group = replace(group, deleted_at=now)
            self.groups.put(group)
            self.on_delete(group.subscription_id, group.name)
            logger.info(
                "Deleting resource group %s/%s", group.subscription_id, group.name
            )
        deleted_at = group.deleted_at if group.deleted_at is not None else now
        seconds = max(0.0, deleted_at + self.delete_seconds - now)
        operation = self.operations.start(
            group.subscription_id, group.location, seconds
        )
        version = f"api-version={request.api_version}"
        location = f"{request.origin}{operation.url_path()}?monitor=true&{version}"
        return ArmResponse(202, None, {"Location": location, "Retry-After": "1"})
