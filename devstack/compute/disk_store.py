"""Managed disks: their ARM JSON, their state and their store."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from typing import ClassVar

from devstack.compute.operations import iso_time
from devstack.compute.resource import ComputeResource
from devstack.compute.state_files import StateTable, row_key

GIB = 1024**3


@dataclass(frozen=True)
class Disk(ComputeResource):
    """One Microsoft.Compute/disks resource and the Azurite blob that holds it."""

    resource_type: ClassVar[str] = "disks"
    location: str
    tags: dict[str, str]
    sku: str
    os_type: str | None
    hyper_v_generation: str | None
    create_option: str
    source_uri: str | None
    storage_account_id: str | None
    size_bytes: int
    unique_id: str
    created_at: float
    ready_at: float
    account: str
    container: str
    managed_by: str | None = None
    access_sas: str | None = None
    access_expires: float | None = None
    access_operation: str | None = None

    def has_access(self, now: float) -> bool:
        """Whether a granted SAS is still live; Azure ends it at its expiry."""
        return self.access_sas is not None and now < (self.access_expires or 0.0)

    def disk_state(self, now: float) -> str:
        """Attached, ActiveSAS or Unattached."""
        if self.managed_by:
            return "Attached"
        return "ActiveSAS" if self.has_access(now) else "Unattached"

    def body(self, now: float) -> dict[str, object]:
        """The disk as azure-mgmt-compute's Disk model reads it."""
        creation: dict[str, object] = {"createOption": self.create_option}
        if self.source_uri:
            creation["sourceUri"] = self.source_uri
        if self.storage_account_id:
            creation["storageAccountId"] = self.storage_account_id
        properties: dict[str, object] = {
            "creationData": creation,
            "diskSizeGB": math.ceil(self.size_bytes / GIB),
            "diskSizeBytes": self.size_bytes,
            "uniqueId": self.unique_id,
            "timeCreated": iso_time(self.created_at),
            "provisioningState": "Updating" if now < self.ready_at else "Succeeded",
            "diskState": self.disk_state(now),
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
        }
        if self.os_type:
            properties["osType"] = self.os_type
        if self.hyper_v_generation:
            properties["hyperVGeneration"] = self.hyper_v_generation
        body: dict[str, object] = {
            "id": self.resource_id,
            "name": self.name,
            "type": "Microsoft.Compute/disks",
            "location": self.location,
            "tags": self.tags,
            "sku": {"name": self.sku, "tier": self.sku.split("_")[0]},
            "properties": properties,
        }
        if self.managed_by:
            body["managedBy"] = self.managed_by
        return body


class DiskStore:
    """All disks, each saved to the emulator's state as it changes.

    `lock` is held by a caller across a check and its change (grant, delete...).
    """

    def __init__(self, table: StateTable) -> None:
        self._table = table
        self.lock = threading.RLock()
        self._disks = {
            disk.key: disk for disk in (Disk(**entry) for entry in table.rows())
        }

    def get(self, subscription_id: str, resource_group: str, name: str) -> Disk | None:
        """The disk, if it exists."""
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        with self.lock:
            return self._disks.get(key)

    def list(self, subscription_id: str, resource_group: str | None) -> list[Disk]:
        """Disks of a subscription, or of one resource group in it."""
        with self.lock:
            return [
                disk
                for disk in self._disks.values()
                if disk.subscription_id.lower() == subscription_id.lower()
                and (
                    resource_group is None
                    or disk.resource_group.lower() == resource_group.lower()
                )
            ]

    def by_operation(self, operation_id: str) -> Disk | None:
        """The disk whose access grant is this operation."""
        with self.lock:
            return next(
                (
                    disk
                    for disk in self._disks.values()
                    if disk.access_operation == operation_id
                ),
                None,
            )

    def put(self, disk: Disk) -> None:
        """Create or replace the disk."""
        with self.lock:
            self._disks[disk.key] = disk
            self._table.put(row_key(*disk.key), asdict(disk))

    def remove(self, disk: Disk) -> None:
        """Forget the disk."""
        with self.lock:
            self._disks.pop(disk.key, None)
            self._table.delete([row_key(*disk.key)])
