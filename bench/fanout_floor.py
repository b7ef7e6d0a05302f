"""The floor of the fan-out bench: imagerelay's Azure calls with bare asyncio.

No Prefect: the same core functions (source check, tier-1 seeding by doubling, the
ledger, copy_blob, ensure_image) and so the same Azure SDK aio calls, under the
asyncio semaphores imagerelay puts in front of its Prefect concurrency limits
(LocalGates, of the same sizes), with the clients a release shares (SharedClients:
one credential, one client per storage account and subscription).

Run by bench/fanout.py as `python bench/fanout_floor.py STATE_DIR INVENTORY RESULT
RELEASE VHD:OS_TYPE:IMAGE...`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

from fanout_probe import Probe, stack_ports  # noqa: E402

from imagerelay.clients import SharedClients, shared_clients  # noqa: E402
from imagerelay.limits import LocalGates  # noqa: E402


async def release(
    azure: SharedClients,
    stack: AsyncExitStack,
    limits: LocalGates,
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
    service = azure.blob(tier0.storage_account)
    container = service.get_container_client(tier0.container)
    source = await verify_source(container, vhd, os_type, None)  # type: ignore[arg-type]
    rel = Release(id=release_id, image_name=image_name, os_type=os_type, source=source)  # type: ignore[arg-type]
    tables = await stack.enter_async_context(_table_service(tier0))
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
            storage = azure.storage(target.subscription_id)
            await check_account_location(storage, target)
            url = await read_sas_url(container.get_blob_client(blob), lifetime)
            destination = azure.blob(target.storage_account).get_blob_client(
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
            compute = azure.compute(target.subscription_id)
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
    limits = LocalGates(
        settings.limit_copies,
        settings.limit_copies_per_account,
        settings.limit_images_per_subscription,
    )
    started = time.perf_counter()
    async with AsyncExitStack() as stack, shared_clients(settings) as azure:
        failed = await asyncio.gather(
            *(
                release(azure, stack, limits, plan, release_id, vhd, os_type, image)
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
