"""What the stack saw: peak concurrency, copies, images and faults, as typed models."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field


class StorageCounters(BaseModel):
    """Counted by the storage proxy since the last reset."""

    max_copies: int = 0
    max_copies_per_account: dict[str, int] = Field(default_factory=dict)
    copies_started: int = 0
    copies_started_per_account: dict[str, int] = Field(
        default_factory=dict, description="By destination account."
    )
    copies_aborted: int = 0
    copies_failed: int = 0
    faults: dict[str, int] = Field(default_factory=dict)


class ArmCounters(BaseModel):
    """Counted by the ARM emulator since the last reset."""

    max_image_operations_per_subscription: dict[str, int] = Field(default_factory=dict)
    images_created: int = 0
    images_failed: int = 0
    faults: dict[str, int] = Field(default_factory=dict)


class FaultCounters(BaseModel):
    """Both sides of the stack, as read_counters returns them."""

    storage: StorageCounters
    arm: ArmCounters

    @property
    def max_copies(self) -> int:
        return self.storage.max_copies

    @property
    def copies_started(self) -> int:
        return self.storage.copies_started

    @property
    def images_created(self) -> int:
        return self.arm.images_created

    @property
    def faults(self) -> dict[str, int]:
        """Faulted requests by kind, both sides added up."""
        return dict(Counter(self.storage.faults) + Counter(self.arm.faults))
