"""Time one release on a fresh local stack and print the figures.

Usage: uv run python bench/release.py [--size-mib 256] [--inventory FILE]

Prints: stack start, golden disk build, upload (MiB/s, bytes sent), the release
(wall time, per-target copy and image seconds from the ledger) and a re-run that
finds everything done. Copies on Azurite finish at once, so the release figures
measure orchestration cost (Prefect, ARM round trips), not data movement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from devstack import stack as devstack  # noqa: E402
from devstack.golden import build_golden_vhd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument(
        "--inventory", type=Path, default=PROJECT_ROOT / "inventories" / "demo.yaml"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imagerelay-bench-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        config = devstack.up(
            root / "stack", args.inventory, worker=False, env_file=None
        )
        stack_seconds = time.perf_counter() - started
        os.environ.update(devstack.service_env(config, args.inventory.resolve()))
        try:
            figures = asyncio.run(_measure(config, args, root))
        finally:
            devstack.flush_prefect_clients()
            devstack.down(root / "stack", env_file=None)

    print(f"stack up            {stack_seconds:8.1f} s")
    for name, value in figures:
        print(f"{name:<20}{value}")


async def _measure(config, args, root: Path) -> list[tuple[str, str]]:
    from azure.data.tables import TableClient
    from azure.storage.blob import BlobClient

    from flows.release import release_flow
    from imagerelay.inventory import load_inventory
    from imagerelay.naming import upload_blob_name
    from imagerelay.upload import upload_vhd
    from imagerelay.vhd import build_footer

    plan = load_inventory(args.inventory)
    started = time.perf_counter()
    path = build_golden_vhd(root / "golden.vhd", args.size_mib)
    build_seconds = time.perf_counter() - started

    def tier0_blob(name: str) -> BlobClient:
        return BlobClient.from_connection_string(
            config.connection_string(plan.tier0.storage_account),
            plan.tier0.container,
            name,
        )

    dense = root / "dense.vhd"
    with dense.open("wb") as file:
        for _ in range(args.size_mib):
            file.write(os.urandom(2**20))
        file.write(build_footer(args.size_mib * 2**20))
    dense_upload = upload_vhd(dense, tier0_blob("dense/dense.vhd"), metadata={})

    name = upload_blob_name("bench", path.name)
    upload = upload_vhd(
        path, tier0_blob(name), metadata={"imagerelay_os_type": "Linux"}
    )

    async def release() -> float:
        started = time.perf_counter()
        state = await release_flow(
            os_type="Linux",
            image_name="bench",
            release_id="bench",
            vhd=name,
            return_state=True,
        )
        if not state.is_completed():
            raise SystemExit(f"release ended {state.type}: {state.message}")
        return time.perf_counter() - started

    ledger = TableClient.from_connection_string(
        config.connection_string(plan.tier0.storage_account), "imagerelayledger"
    )
    first = await release()
    entries = list(ledger.query_entities("PartitionKey eq 'bench'"))
    again = await release()
    copies = [e["copy_seconds"] for e in entries if "copy_seconds" in e]
    images = [e["image_seconds"] for e in entries if "image_seconds" in e]
    targets = len(plan.enabled_targets)
    return [
        ("golden disk build", f"{build_seconds:8.1f} s ({args.size_mib} MiB)"),
        (
            "upload, dense",
            f"{dense_upload.seconds:8.1f} s  {dense_upload.mib_per_second:.0f} MiB/s",
        ),
        (
            "upload, golden",
            f"{upload.seconds:8.1f} s  {upload.mib_per_second:.0f} MiB/s, "
            f"{upload.bytes_sent / 2**20:.1f} of {upload.size / 2**20:.0f} MiB sent",
        ),
        ("release", f"{first:8.1f} s  {targets} targets, {first / targets:.2f} s each"),
        ("  copy (median)", f"{statistics.median(copies or [0]):8.2f} s"),
        ("  image (median)", f"{statistics.median(images or [0]):8.2f} s"),
        ("re-run, all done", f"{again:8.1f} s  ({again / first:.2f} of the first)"),
    ]


if __name__ == "__main__":
    main()
