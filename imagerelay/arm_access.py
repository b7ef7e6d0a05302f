"""ARM clients for one setup or remove run, and bounded concurrency over them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from imagerelay import clients
from imagerelay.settings import Settings

CONCURRENCY = 16
T = TypeVar("T")


@dataclass
class ArmAccess:
    """Settings and credential every ARM client of one run is made with."""

    settings: Settings
    credential: Any

    def resources(self, subscription_id: str) -> Any:
        return clients.resource_client(self.settings, self.credential, subscription_id)

    def storage(self, subscription_id: str) -> Any:
        return clients.storage_management_client(
            self.settings, self.credential, subscription_id
        )

    def compute(self, subscription_id: str) -> Any:
        return clients.compute_client(self.settings, self.credential, subscription_id)


async def gather_bounded(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run the calls at most CONCURRENCY at a time, results in order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(run(call) for call in calls)))
