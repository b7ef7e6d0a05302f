"""The concurrency limits a release runs under, named from the inventory.

They replace the old "150 jobs per Automation account" cap: one limit for all copies,
one per storage account (as source or destination) and one for image creation per
subscription. Prefect holds them; this module only says which exist and how large.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from imagerelay.inventory import Inventory
from imagerelay.settings import Settings

ALL_COPIES = "imagerelay-copies"


def account_copies(account: str) -> str:
    return f"imagerelay-copies-{account}"


def subscription_images(subscription_id: str) -> str:
    return f"imagerelay-images-{subscription_id}"


def copy_limits(source_account: str, destination_account: str) -> list[str]:
    """The limits one copy occupies a slot of."""
    names = [ALL_COPIES, account_copies(source_account)]
    if destination_account != source_account:
        names.append(account_copies(destination_account))
    return names


def image_limits(subscription_id: str) -> list[str]:
    """The limits one image creation occupies a slot of."""
    return [subscription_images(subscription_id)]


def planned_limits(inventory: Inventory, settings: Settings) -> dict[str, int]:
    """Every limit the inventory needs, with its size from the settings."""
    limits = {ALL_COPIES: settings.limit_copies}
    for account in inventory.storage_accounts:
        limits[account_copies(account)] = settings.limit_copies_per_account
    for target in inventory.targets:
        limits[subscription_images(target.subscription_id)] = (
            settings.limit_images_per_subscription
        )
    return limits


class LocalGates:
    """asyncio semaphores sized like the limits, shared by one process's targets.

    A task waiting on a full Prefect limit asks the server again every Retry-After
    seconds, so a freed slot can stay idle for seconds and every waiter loads the
    server. Targets of one flow-run process queue here first, where a freed slot is
    handed over at once; the server is asked only for slots this process believes
    free, and the Prefect limits still bound all processes together.
    """

    def __init__(self, copies: int, per_account: int, per_subscription: int) -> None:
        self._sizes = {
            "all": copies,
            "account": per_account,
            "images": per_subscription,
        }
        self._semaphores: dict[tuple[str, str], asyncio.Semaphore] = {}

    def _gate(self, kind: str, key: str) -> asyncio.Semaphore:
        gate = self._semaphores.get((kind, key))
        if gate is None:
            gate = self._semaphores[kind, key] = asyncio.Semaphore(self._sizes[kind])
        return gate

    @asynccontextmanager
    async def copy(self, source: str, destination: str) -> AsyncIterator[None]:
        """Hold this process's share of every limit a copy occupies."""
        gates = [self._gate("all", ""), self._gate("account", source)]
        if destination != source:
            gates.append(self._gate("account", destination))
        async with AsyncExitStack() as stack:
            for gate in gates:  # always in this order, so two copies never deadlock
                await stack.enter_async_context(gate)
            yield

    @asynccontextmanager
    async def image(self, subscription_id: str) -> AsyncIterator[None]:
        async with self._gate("images", subscription_id):
            yield


_gates: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, int, int], LocalGates]
] = weakref.WeakKeyDictionary()


def local_gates(settings: Settings) -> LocalGates:
    """The gates of the running event loop for these limit sizes."""
    sizes = (
        settings.limit_copies,
        settings.limit_copies_per_account,
        settings.limit_images_per_subscription,
    )
    by_size = _gates.setdefault(asyncio.get_running_loop(), {})
    if sizes not in by_size:
        by_size[sizes] = LocalGates(*sizes)
    return by_size[sizes]
