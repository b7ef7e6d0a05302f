"""Microsoft.Compute/disks: create (Import, Empty), get, grant and revoke access."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace

from devstack.compute import disk_blobs
from devstack.compute.disk_request import invalid, json_body, new_disk
from devstack.compute.disk_store import Disk, DiskStore
from devstack.compute.errors import (
    ArmError,
    resource_group_not_found,
    resource_not_found,
)
from devstack.compute.operations import Operation, OperationLog
from devstack.compute.routes import COMPUTE, RG, SUB, ArmRequest, ArmResponse, Handler
from devstack.compute.source_blob import normalize_location
from devstack.compute.state_files import StateTable
from devstack.compute.storage_accounts import has_resource_group
from devstack.config import StackAccount, StackConfig

logger = logging.getLogger(__name__)

DISK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
DISK_TYPE = "Microsoft.Compute/disks"


def _not_allowed(message: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message)


class DiskApi:
    """The disk routes, their Azurite blobs and their asynchronous operations."""

    def __init__(self, config: StackConfig, operations: OperationLog) -> None:
        self.config = config
        self.operations = operations
        self.store = DiskStore(StateTable(config.state_dir / "arm", "disks"))

    def routes(self) -> list[tuple[str, dict[str, Handler]]]:
        """(path pattern, handlers by method) for ArmRoutes."""
        disk = RG + COMPUTE + r"/disks/(?P<name>[^/]+)"
        operations = SUB + COMPUTE + r"/locations/[^/]+/diskoperations/(?P<op>[^/]+)"
        return [
            (disk, {"GET": self.get, "PUT": self.put, "DELETE": self.delete}),
            (disk + r"/begingetaccess", {"POST": self.grant_access}),
            (disk + r"/endgetaccess", {"POST": self.revoke_access}),
            (RG + COMPUTE + r"/disks", {"GET": self.list}),
            (SUB + COMPUTE + r"/disks", {"GET": self.list}),
            (operations, {"GET": self.get_operation}),
        ]

    def _group(self, request: ArmRequest) -> tuple[str, str]:
        sub, rg = request.params["sub"], request.params["rg"]
        if not has_resource_group(self.config, sub, rg):
            raise resource_group_not_found(rg)
        return sub, rg

    def _disk(self, request: ArmRequest) -> Disk:
        sub, rg = self._group(request)
        disk = self.store.get(sub, rg, request.params["name"])
        if disk is None:
            raise resource_not_found(DISK_TYPE, request.params["name"], rg)
        return disk

    def _account(self, disk: Disk) -> StackAccount:
        account = self.config.account(disk.account)
        if account is None:
            raise ArmError(500, "InternalServerError", "The disk's storage is gone.")
        return account

    def _accepted(self, request: ArmRequest, operation: Operation) -> ArmResponse:
        path = (
            f"/subscriptions/{operation.subscription_id}/providers/Microsoft.Compute/"
            f"locations/{operation.location}/DiskOperations/{operation.id}"
        )
        version = f"api-version={request.api_version}"
        headers = {
            "Azure-AsyncOperation": f"{request.origin}{path}?{version}",
            "Location": f"{request.origin}{path}?monitor=true&{version}",
        }
        return ArmResponse(202, None, {**headers, "Retry-After": "1"})

    def get(self, request: ArmRequest) -> ArmResponse:
        """GET one disk."""
        return ArmResponse(200, self._disk(request).body(time.time()))

    def list(self, request: ArmRequest) -> ArmResponse:
        """GET the disks of a resource group or of a subscription."""
        if "rg" in request.params:
            sub, rg = self._group(request)
        else:
            sub, rg = request.params["sub"], None
        now = time.time()
        return ArmResponse(
            200, {"value": [disk.body(now) for disk in self.store.list(sub, rg)]}
        )

    def put(self, request: ArmRequest) -> ArmResponse:
        """Create a disk from a VHD blob (Import) or empty; update only its tags."""
        sub, rg = self._group(request)
        name = request.params["name"]
        if not DISK_NAME.match(name):
            raise invalid(
                f"The disk name '{name}' is invalid: use 1-80 letters, digits, '_' "
                "or '-'.",
                "diskName",
            )
        body = json_body(request.body)
        location = body.get("location")
        if not location or not isinstance(location, str):
            raise ArmError(
                400, "LocationRequired", "The location property is required."
            )
        location = normalize_location(location)
        properties = body.get("properties") or {}
        creation = properties.get("creationData") or {}
        option = str(creation.get("createOption") or "")
        tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        now = time.time()

        with self.store.lock:
            existing = self.store.get(sub, rg, name)
            if existing is not None:
                if (
                    option.lower() != existing.create_option.lower()
                    or (creation.get("sourceUri") or None) != existing.source_uri
                ):
                    raise ArmError(
                        409,
                        "PropertyChangeNotAllowed",
                        "Changing property 'creationData' is not allowed.",
                        target="creationData",
                    )
                updated = replace(existing, tags=tags)
                self.store.put(updated)
                return ArmResponse(200, updated.body(now))
            disk = new_disk(
                self.config, sub, rg, name, location, tags, properties, body, now
            )
            self.store.put(disk)

        operation = self.operations.start(sub, location, disk.ready_at - now)
        logger.info(
            "Created disk %s (%s, %d MiB)",
            disk.resource_id,
            disk.create_option,
            disk.size_bytes // 2**20,
        )
        # Disks answer a create with 202 and the disk, unlike images (201).
        response = self._accepted(request, operation)
        return ArmResponse(202, disk.body(now), response.headers)

    def delete(self, request: ArmRequest) -> ArmResponse:
        """Delete the disk and its blob; refused while attached or shared by SAS."""
        sub, rg = self._group(request)
        with self.store.lock:
            disk = self.store.get(sub, rg, request.params["name"])
            if disk is None:
                return ArmResponse(204, None)
            state = disk.disk_state(time.time())
            if state != "Unattached":
                raise _not_allowed(
                    f"Disk '{disk.name}' cannot be deleted while its state is "
                    f"{state}: detach it, or end its access (endGetAccess) first."
                )
            disk_blobs.delete_container(
                self.config, self._account(disk), disk.container
            )
            self.store.remove(disk)
        logger.info("Deleted disk %s", disk.resource_id)
        return self._accepted(request, self.operations.start(sub, disk.location, 0))

    def grant_access(self, request: ArmRequest) -> ArmResponse:
        """Start a read SAS on the disk's blob (beginGetAccess)."""
        body = json_body(request.body)
        access = str(body.get("access") or "")
        seconds = body.get("durationInSeconds")
        if access.lower() != "read":
            raise invalid(
                f"Access '{access}' cannot be granted on a disk that is not ready to "
                "upload; ask for 'Read'.",
                "access",
            )
        if not isinstance(seconds, int) or seconds <= 0:
            raise invalid(
                f"durationInSeconds must be a positive whole number, got {seconds!r}.",
                "durationInSeconds",
            )
        now = time.time()
        with self.store.lock:
            disk = self._disk(request)
            state = disk.disk_state(now)
            if state == "Attached":
                raise _not_allowed(
                    f"Disk '{disk.name}' is attached to VM '{disk.managed_by}'; a SAS "
                    "can only be granted on an unattached disk. Deallocate the VM and "
                    "detach the disk, or snapshot it and export the snapshot."
                )
            if state == "ActiveSAS":
                raise _not_allowed(
                    f"Disk '{disk.name}' already has an active SAS (state ActiveSAS); "
                    "end it with endGetAccess before granting another."
                )
            account = self._account(disk)
            sas, expires = disk_blobs.grant_read(
                self.config, account, disk.container, seconds
            )
            operation = self.operations.start(
                disk.subscription_id, disk.location, min(self.config.image_seconds, 1)
            )
            self.store.put(
                replace(
                    disk,
                    access_sas=sas,
                    access_expires=expires,
                    access_operation=operation.id,
                )
            )
        logger.info("Granted read access on disk %s for %d s", disk.name, seconds)
        return self._accepted(request, operation)

    def revoke_access(self, request: ArmRequest) -> ArmResponse:
        """End every SAS on the disk (endGetAccess); nothing to end is no error."""
        with self.store.lock:
            disk = self._disk(request)
            disk_blobs.revoke(self.config, self._account(disk), disk.container)
            self.store.put(
                replace(
                    disk, access_sas=None, access_expires=None, access_operation=None
                )
            )
        logger.info("Revoked access on disk %s", disk.name)
        operation = self.operations.start(
            disk.subscription_id, disk.location, min(self.config.image_seconds, 1)
        )
        return self._accepted(request, operation)

    def get_operation(self, request: ArmRequest) -> ArmResponse:
        """GET a disk operation's status, or (monitor) its result once done."""
        operation = self.operations.get(request.params["sub"], request.params["op"])
        if operation is None:
            raise ArmError(
                404,
                "NotFound",
                f"The operation '{request.params['op']}' was not found.",
            )
        now = time.time()
        pending = now < operation.done_at
        disk = self.store.by_operation(operation.id)
        output = {"accessSAS": disk.access_sas} if disk and disk.access_sas else None
        if request.query.get("monitor", "").lower() == "true":
            if pending:
                return ArmResponse(202, None, {"Retry-After": "1"})
            return ArmResponse(200, output)
        status = operation.body(now)
        if output and not pending:
            status["properties"] = {"output": output}
        return ArmResponse(200, status, {"Retry-After": "1"} if pending else {})
