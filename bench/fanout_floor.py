"""The floor of the fan-out bench: imagerelay's Azure calls with bare asyncio.

No Prefect: the same core functions (source check, tier-1 seeding by doubling, the
ledger, copy_blob, ensure_image) and so the same Azure SDK aio calls, under asyncio
semaphores of the same sizes as the Prefect concurrency limits, with one credential
and one client per storage account and subscription shared by every target.

Run by bench/fanout.py as `python bench/fanout_floor.py STATE_DIR INVENTORY RESULT
RELEASE VHD:OS_TYPE:IMAGE...`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

from fanout_probe import Probe, stack_ports  # noqa: E402


class Limits:
    """asyncio semaphores named and sized like imagerelay's concurrency limits."""

    def __init__(self, settings: Any) -> None:
        self.sizes = {
            "copies": settings.limit_copies,
            "account": settings.limit_copies_per_account,
            "images": settings.limit_images_per_subscription,
        }
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    def _get(self, kind: str, key: str) -> asyncio.Semaphore:
        name = f"{kind}:{key}"
        if name not in self._semaphores:
            self._semaphores[name] = asyncio.Semaphore(self.sizes[kind])
        return self._semaphores[name]

    @asynccontextmanager
    async def copy(self, source: str, destination: str):  # type: ignore[no-untyped-def]
        held = [self._get("copies", "all"), self._get("account", source)]
        if destination != source:
            held.append(self._get("account", destination))
        async with AsyncExitStack() as stack:
            for semaphore in held:
                await stack.enter_async_context(semaphore)
            yield

    def image(self, subscription: str) -> asyncio.Semaphore:
        return self._get("images", subscription)


class Clients:
    """One credential, and one client per account or subscription, for all targets."""

    def __init__(self, settings: Any, stack: AsyncExitStack) -> None:
        from imagerelay import clients

        self.settings = settings
        self.stack = stack
        self.credential = clients.arm_credential()
        self._cache: dict[tuple[str, str], Any] = {}

    async def _client(self, kind: str, key: str, make: Any) -> Any:
        if (kind, key) not in self._cache:
            self._cache[kind, key] = await self.stack.enter_async_context(make())
        return self._cache[kind, key]

    async def blob(self, account: str) -> Any:
        from imagerelay import clients

        return await self._client(
            "blob",
            account,
            lambda: clients.blob_service(self.settings, account, self.credential),
        )

    async def compute(self, subscription: str) -> Any:
        from imagerelay import clients

        return await self._client(
            "compute",
            subscription,
            lambda: clients.compute_client(
                self.settings, self.credential, subscription
            ),
        )

    async def storage(self, subscription: str) -> Any:
        from imagerelay import clients

        return await self._client(
            "storage",
            subscription,
            lambda: clients.storage_management_client(
                self.settings, self.credential, subscription
            ),
        )


async def release(
    azure: Clients,
    limits: Limits,
    plan: Any,
    release_id: str,
    vhd: str,
    os_type: str,
    image_name: str,
) -> int:
    """One image's release to every enabled target; returns how many failed."""
    from imagerelay.copy import copy_blob, copy_metadata
    from imagerelay.images import check_account_location, ensure_image
    from imagerelay.ledger import Ledger, check_same_source
    from imagerelay.models import Release, TargetState
    from imagerelay.naming import managed_image_name, tier1_blob_name, tier2_blob_name
    from imagerelay.sas import read_sas_url
    from imagerelay.source import verify_source
    from imagerelay.tier1 import seed_source, seeding_rounds

    settings = azure.settings
    tier0 = plan.tier0
    timeout = settings.copy_timeout_minutes * 60
    lifetime = timedelta(seconds=timeout + 600)
    service = await azure.blob(tier0.storage_account)
    container = service.get_container_client(tier0.container)
    source = await verify_source(container, vhd, os_type, None)  # type: ignore[arg-type]
    rel = Release(id=release_id, image_name=image_name, os_type=os_type, source=source)  # type: ignore[arg-type]
    tables = await azure.stack.enter_async_context(_table_service(tier0))
    ledger = Ledger(tables.get_table_client("imagerelayledger"))
    await ledger.ensure_table()
    check_same_source(rel, await ledger.entries(release_id, image_name))

    async def seed(index: int) -> str:
        earlier = seed_source(index)
        read_from = (
            vhd if earlier is None else tier1_blob_name(release_id, image_name, earlier)
        )
        url = await read_sas_url(container.get_blob_client(read_from), lifetime)
        name = tier1_blob_name(release_id, image_name, index)
        async with limits.copy(tier0.storage_account, tier0.storage_account):
            await copy_blob(
                url,
                container.get_blob_client(name),
                copy_metadata(release_id, url, source.etag, source.size, source.md5),
                size=source.size,
                poll_seconds=settings.copy_poll_seconds,
                timeout_seconds=timeout,
            )
        return name

    tier1: list[str] = []
    for round_ in seeding_rounds(tier0.tier1_copies):
        tier1 += await asyncio.gather(*(seed(index) for index in round_))
    targets = plan.enabled_targets
    await ledger.record_many(rel, targets, TargetState.PENDING)

    async def distribute(index: int, target: Any) -> None:
        blob = tier1[index % len(tier1)]
        await ledger.record(rel, target, TargetState.COPYING, source_blob=blob)
        try:
            storage = await azure.storage(target.subscription_id)
            await check_account_location(storage, target)
            url = await read_sas_url(container.get_blob_client(blob), lifetime)
            destination = (await azure.blob(target.storage_account)).get_blob_client(
                target.container, tier2_blob_name(release_id, image_name)
            )
            async with limits.copy(tier0.storage_account, target.storage_account):
                copy = await copy_blob(
                    url,
                    destination,
                    copy_metadata(
                        release_id, url, source.etag, source.size, source.md5
                    ),
                    size=source.size,
                    poll_seconds=settings.copy_poll_seconds,
                    timeout_seconds=timeout,
                )
            await ledger.record(
                rel,
                target,
                TargetState.IMAGING,
                destination_blob=copy.destination,
                copy_seconds=copy.seconds,
                copy_reused=copy.skipped,
            )
            compute = await azure.compute(target.subscription_id)
            name = managed_image_name(release_id, image_name, target.region)
            async with limits.image(target.subscription_id):
                image = await ensure_image(compute, target, rel, name, copy.destination)
            await ledger.record(
                rel,
                target,
                TargetState.DONE,
                image_id=image.image_id,
                image_seconds=image.seconds,
                image_reused=image.skipped,
                error="",
            )
        except Exception as exc:  # one target never stops the others
            await ledger.record(rel, target, TargetState.FAILED, error=str(exc)[:500])

    await asyncio.gather(*(distribute(i, t) for i, t in enumerate(targets)))
    entries = await ledger.entries(release_id, image_name)
    return sum(1 for e in entries if e.state is not TargetState.DONE)


def _table_service(tier0: Any) -> Any:
    from azure.data.tables.aio import TableServiceClient

    return TableServiceClient.from_connection_string(
        os.environ["IMAGERELAY_TIER0_CONNECTION_STRING"]
    )


async def run(plan_path: Path, release_id: str, images: list[str]) -> dict[str, Any]:
    from imagerelay.inventory import load_inventory
    from imagerelay.settings import get_settings

    settings = get_settings()
    plan = load_inventory(plan_path)
    limits = Limits(settings)
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        azure = Clients(settings, stack)
        await stack.enter_async_context(azure.credential)
        failed = await asyncio.gather(
            *(
                release(azure, limits, plan, release_id, vhd, os_type, image)
                for vhd, os_type, image in (spec.split(":") for spec in images)
            )
        )
    return {"seconds": time.perf_counter() - started, "failed": sum(failed)}


def main() -> None:
    from devstack.config import StackConfig
    from devstack.stack import service_env

    state_dir, plan_path, result, release_id, *images = sys.argv[1:]
    config = StackConfig.load(Path(state_dir))
    os.environ.update(service_env(config, Path(plan_path)))
    probe = Probe(stack_ports(config))
    probe.install()
    figures = asyncio.run(run(Path(plan_path), release_id, images))
    probe.write(Path(result), **figures)


if __name__ == "__main__":
    main()
