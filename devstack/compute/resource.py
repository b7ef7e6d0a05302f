"""What every Microsoft.Compute resource the emulator keeps has: a name and an id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ComputeResource:
    """A resource named by subscription, resource group and name, like ARM does."""

    resource_type: ClassVar[str]

    subscription_id: str
    resource_group: str
    name: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Case-insensitive identity, as ARM compares names."""
        return (
            self.subscription_id.lower(),
            self.resource_group.lower(),
            self.name.lower(),
        )

    @property
    def resource_id(self) -> str:
        """The ARM id of the resource."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Compute/"
            f"{self.resource_type}/{self.name}"
        )
