"""Managed images: their ARM JSON, their provisioning clock and their store."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

from devstack.compute.image_request import ImageRequest
from devstack.compute.resource import ComputeResource
from devstack.compute.state_files import StateTable, row_key

GIB = 1024**3


@dataclass(frozen=True)
class Image(ComputeResource):
    """One Microsoft.Compute/images resource and when its operations finish."""

    resource_type: ClassVar[str] = "images"
    location: str
    tags: dict[str, str]
    os_type: str
    os_state: str
    blob_uri: str
    caching: str
    storage_account_type: str
    hyper_v_generation: str
    virtual_size: int
    ready_at: float
    deleted_at: float | None = None
    error: dict[str, str] | None = None

    def provisioning_state(self, now: float) -> str:
        """Creating until ready, Deleting while a delete runs, then the outcome."""
        if self.deleted_at is not None:
            return "Deleting"
        if now < self.ready_at:
            return "Creating"
        return "Failed" if self.error else "Succeeded"

    def body(self, now: float) -> dict[str, object]:
        """The image as azure-mgmt-compute's Image model reads it."""
        return {
            "id": self.resource_id,
            "name": self.name,
            "type": "Microsoft.Compute/images",
            "location": self.location,
            "tags": self.tags,
            "properties": {
                "storageProfile": {
                    "osDisk": {
                        "osType": self.os_type,
                        "osState": self.os_state,
                        "blobUri": self.blob_uri,
                        "caching": self.caching,
                        "storageAccountType": self.storage_account_type,
                        "diskSizeGB": math.ceil(self.virtual_size / GIB),
                    },
                    "dataDisks": [],
                    "zoneResilient": False,
                },
                "provisioningState": self.provisioning_state(now),
                "hyperVGeneration": self.hyper_v_generation,
            },
        }


def image_from_request(
    subscription_id: str,
    resource_group: str,
    name: str,
    request: ImageRequest,
    virtual_size: int,
    ready_at: float,
    error: dict[str, str] | None = None,
) -> Image:
    """A new image resource for a validated request."""
    return Image(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=name,
        location=request.location,
        tags=request.tags,
        os_type=request.os_type,
        os_state=request.os_state,
        blob_uri=request.blob_uri,
        caching=request.caching,
        storage_account_type=request.storage_account_type,
        hyper_v_generation=request.hyper_v_generation,
        virtual_size=virtual_size,
        ready_at=ready_at,
        error=error,
    )


class ImageStore:
    """All images, each saved to the emulator's state as it changes."""

    def __init__(self, table: StateTable, delete_seconds: float) -> None:
        self._table = table
        self._delete_seconds = delete_seconds
        self._lock = threading.Lock()
        self._images: dict[tuple[str, str, str], Image] = {}
        for entry in table.rows():
            image = Image(**entry)
            self._images[image.key] = image

    def _purge(self, now: float) -> None:
        gone = [
            key
            for key, image in self._images.items()
            if image.deleted_at is not None
            and now >= image.deleted_at + self._delete_seconds
        ]
        for key in gone:
            del self._images[key]
        if gone:
            self._table.delete(row_key(*key) for key in gone)

    def _save(self, image: Image) -> None:
        self._images[image.key] = image
        self._table.put(row_key(*image.key), asdict(image))

    def get(self, subscription_id: str, resource_group: str, name: str) -> Image | None:
        """The image, including one being deleted."""
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        with self._lock:
            self._purge(time.time())
            return self._images.get(key)

    def list(self, subscription_id: str, resource_group: str | None) -> list[Image]:
        """Images of a subscription, or of one resource group in it."""
        with self._lock:
            self._purge(time.time())
            return [
                image
                for image in self._images.values()
                if image.subscription_id.lower() == subscription_id.lower()
                and (
                    resource_group is None
                    or image.resource_group.lower() == resource_group.lower()
                )
            ]

    def put(self, image: Image) -> None:
        """Create or replace the image."""
        with self._lock:
            self._save(image)

    def start_delete(self, image: Image, now: float) -> Image:
        """Mark the image Deleting; it disappears delete_seconds later."""
        deleting = replace(image, deleted_at=now)
        with self._lock:
            self._save(deleting)
        return deleting
