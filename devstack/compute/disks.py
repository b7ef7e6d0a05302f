"""Microsoft.Compute/disks: create (Import, Empty), get, grant and revoke access."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import replace
from typing import Any

from devstack.compute import disk_blobs
from devstack.compute.disk_store import GIB, Disk, DiskStore
from devstack.compute.errors import (
    ArmError,
    resource_group_not_found,
    resource_not_found,
)
from devstack.compute.image_request import GENERATIONS, OS_TYPES
from devstack.compute.operations import Operation, OperationLog
from devstack.compute.routes import COMPUTE, RG, SUB, ArmRequest, ArmResponse, Handler
from devstack.compute.source_blob import (
    check_source_blob,
    normalize_location,
    parse_blob_uri,
)
from devstack.compute.storage_accounts import account_body, has_resource_group
from devstack.config import StackAccount, StackConfig

logger = logging.getLogger(__name__)

DISK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_DISK_GB = 32767
DISK_TYPE = "Microsoft.Compute/disks"


def _invalid(message: str, target: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def _not_allowed(message: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message)


def _json(request: ArmRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from exc
    if not isinstance(body, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: "
            "expected a JSON object.",
        )
    return body


def _choice(value: object, allowed: dict[str, str], target: str) -> str | None:
    if value in (None, ""):
        return None
    canonical = allowed.get(str(value).lower())
    if canonical is None:
        raise _invalid(
            f"The value '{value}' of parameter '{target}' is not allowed; allowed "
            f"values are {', '.join(allowed.values())}.",
            target,
        )
    return canonical


class DiskApi:
    """The disk routes, their Azurite blobs and their asynchronous operations."""

    def __init__(self, config: StackConfig, operations: OperationLog) -> None:
        self.config = config
        self.operations = operations
        self.store = DiskStore(config.state_dir / "arm" / "disks.json")

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
            raise _invalid(
                f"The disk name '{name}' is invalid: use 1-80 letters, digits, '_' "
                "or '-'.",
                "diskName",
            )
        body = _json(request)
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
            disk = self._create(sub, rg, name, location, tags, properties, body, now)
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

    def _create(
        self,
        sub: str,
        rg: str,
        name: str,
        location: str,
        tags: dict[str, str],
        properties: dict[str, Any],
        body: dict[str, Any],
        now: float,
    ) -> Disk:
        creation = properties.get("creationData") or {}
        option = str(creation.get("createOption") or "")
        container = f"md-{uuid.uuid4().hex[:12]}"
        source_uri = storage_account_id = None
        if option.lower() == "import":
            source_uri = creation.get("sourceUri")
            storage_account_id = creation.get("storageAccountId")
            account, size = self._import(location, sub, container, creation)
        elif option.lower() == "empty":
            size_gb = properties.get("diskSizeGB")
            if not isinstance(size_gb, int) or not 0 < size_gb <= MAX_DISK_GB:
                raise _invalid(
                    f"diskSizeGB must be a whole number from 1 to {MAX_DISK_GB} for "
                    f"an empty disk, got {size_gb!r}.",
                    "diskSizeGB",
                )
            account = self._home_account(location)
            size = size_gb * GIB
            disk_blobs.create_empty(self.config, account, container, size)
        else:
            raise _invalid(
                f"createOption '{option}' is not served by the local emulator; use "
                "Import (from a VHD blob) or Empty.",
                "creationData.createOption",
            )
        return Disk(
            subscription_id=sub,
            resource_group=rg,
            name=name,
            location=location,
            tags=tags,
            sku=str((body.get("sku") or {}).get("name") or "Standard_LRS"),
            os_type=_choice(properties.get("osType"), OS_TYPES, "osType"),
            hyper_v_generation=_choice(
                properties.get("hyperVGeneration"), GENERATIONS, "hyperVGeneration"
            ),
            create_option="Import" if option.lower() == "import" else "Empty",
            source_uri=source_uri,
            storage_account_id=storage_account_id,
            size_bytes=size,
            unique_id=str(uuid.uuid4()),
            created_at=now,
            ready_at=now + self.config.image_seconds,
            account=account.name,
            container=container,
            # Limitation: there is no VM API; a PUT's managedBy models an attached disk.
            managed_by=body.get("managedBy") or None,
        )

    def _import(
        self, location: str, sub: str, container: str, creation: dict[str, Any]
    ) -> tuple[StackAccount, int]:
        """Check the source blob as Azure does and copy it; the account and size."""
        source_uri = creation.get("sourceUri")
        if not isinstance(source_uri, str) or not source_uri:
            raise _invalid(
                "Required parameter 'creationData.sourceUri' is missing (null).",
                "creationData.sourceUri",
            )
        address = parse_blob_uri(source_uri)
        account = self.config.account(address.account)
        wanted_id = str(creation.get("storageAccountId") or "")
        if not wanted_id:
            raise _invalid(
                "Required parameter 'creationData.storageAccountId' is missing (null); "
                "it must name the storage account that holds the VHD.",
                "creationData.storageAccountId",
            )
        if account is None or str(account_body(self.config, account)["id"]).lower() != (
            wanted_id.lower()
        ):
            raise _invalid(
                f"The source blob {source_uri} is not in storage account {wanted_id}.",
                "creationData.sourceUri",
            )
        if normalize_location(account.region) != location:
            raise ArmError(
                400,
                "BadRequest",
                f"The storage account '{account.name}' of source blob {source_uri} "
                f"is in '{account.region}', not in the disk's region '{location}'. "
                "Copy the VHD to an account in the disk's region first.",
                target="creationData.sourceUri",
            )
        size = check_source_blob(self.config, account, address, source_uri)
        disk_blobs.import_blob(
            self.config, account, container, account, address.container, address.blob
        )
        return account, size

    def _home_account(self, location: str) -> StackAccount:
        # Limitation: an empty disk's blob lives in any stack account of its region.
        for account in self.config.accounts:
            if normalize_location(account.region) == location:
                return account
        return self.config.accounts[0]

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
        body = _json(request)
        access = str(body.get("access") or "")
        seconds = body.get("durationInSeconds")
        if access.lower() != "read":
            raise _invalid(
                f"Access '{access}' cannot be granted on a disk that is not ready to "
                "upload; ask for 'Read'.",
                "access",
            )
        if not isinstance(seconds, int) or seconds <= 0:
            raise _invalid(
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
