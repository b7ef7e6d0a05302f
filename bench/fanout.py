"""Fan-out bench: imagerelay against a bare asyncio floor at thousands of targets.

Builds a synthetic inventory (subscriptions x regions, one storage account each),
starts the local stack for it, uploads a Linux and a Windows VHD and releases both at
once: first with the floor (bench/fanout_floor.py: the same Azure SDK calls under
asyncio semaphores of the same sizes as the concurrency limits), then with
imagerelay's release flows, with the Prefect server on SQLite and on PostgreSQL.
Prints wall time, Azure calls per target, peak memory of the flow-run process and of
the Prefect server, the highest concurrency seen against each limit, and the ratio
to the floor. The default is the full 300 x 10 x 2 = 6,000 image operations.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import fanout_postgres  # noqa: E402
from fanout_process import tree_cpu_seconds, tree_peak_rss_mib  # noqa: E402
from fanout_report import report  # noqa: E402

from devstack import stack as devstack  # noqa: E402
from devstack.processes import Service  # noqa: E402

REGIONS = [
    "westeurope",
    "northeurope",
    "eastus",
    "eastus2",
    "westus2",
    "centralus",
    "uksouth",
    "francecentral",
    "japaneast",
    "australiaeast",
    "southeastasia",
    "canadacentral",
    "brazilsouth",
    "swedencentral",
    "koreacentral",
    "westus3",
]
TIER0_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"
IMAGES = (("Linux", "fanout-linux"), ("Windows", "fanout-windows"))


def build_inventory(path: Path, subscriptions: int, regions: int, tier1: int) -> int:
    """Write a subscriptions x regions inventory; return its number of targets."""
    if regions > len(REGIONS):
        raise SystemExit(f"--regions is at most {len(REGIONS)}")
    targets = [
        {
            "subscription_id": f"{s + 1:08x}-0000-4000-8000-{s + 1:012x}",
            "region": REGIONS[r],
            "storage_account": f"f{s:03d}{r:02d}",
            "image_resource_group": "rg-images",
        }
        for s in range(subscriptions)
        for r in range(regions)
    ]
    inventory = {
        "tier0": {
            "subscription_id": TIER0_SUBSCRIPTION,
            "region": "westeurope",
            "resource_group": "rg-golden",
            "storage_account": "tzero",
            "tier1_copies": tier1,
        },
        "targets": targets,
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return len(targets)


def upload_vhds(config: Any, plan_path: Path, root: Path, size_mib: int) -> list[str]:
    """Upload one zero-filled fixed VHD per OS type; return VHD:OS_TYPE:IMAGE specs."""
    from azure.storage.blob import BlobClient

    from imagerelay.inventory import load_inventory
    from imagerelay.upload import upload_vhd
    from imagerelay.vhd import build_footer

    plan = load_inventory(plan_path)
    path = root / "zero.vhd"
    with path.open("wb") as file:
        file.truncate(size_mib * 2**20)
        file.seek(size_mib * 2**20)
        file.write(build_footer(size_mib * 2**20))
    specs = []
    for os_type, image in IMAGES:
        name = f"uploads/fanout/{image}.vhd"
        blob = BlobClient.from_connection_string(
            config.connection_string(plan.tier0.storage_account),
            plan.tier0.container,
            name,
        )
        upload_vhd(path, blob, metadata={"imagerelay_os_type": os_type})
        specs.append(f"{name}:{os_type}:{image}")
    return specs


def run_side(
    script: str,
    state: Path,
    plan: Path,
    release: str,
    specs: list[str],
    deadline: float | None = None,
) -> dict[str, Any]:
    """Run one side in its own process and return what its probe measured.

    A side still running at the deadline (seconds) is killed and returned as
    stopped; what it got done is then read from the stack's counters.
    """
    result = state.parent / f"{script}-{release}.json"
    log = state.parent / f"{script}-{release}.log"
    command = [sys.executable, str(PROJECT_ROOT / "bench" / f"{script}.py")]
    command += [str(state), str(plan), str(result), release, *specs]
    started = time.perf_counter()
    with log.open("w") as out:
        try:
            code = subprocess.run(
                command, cwd=PROJECT_ROOT, stdout=out, stderr=out, timeout=deadline
            ).returncode
        except subprocess.TimeoutExpired:
            return {"stopped": True, "seconds": time.perf_counter() - started}
    if code != 0 or not result.exists():
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{script} exited {code}; its log ends with:\n{tail}")
    figures = json.loads(result.read_text())
    figures["process_seconds"] = time.perf_counter() - started
    return figures


def stack_cpu(state: Path) -> dict[str, float]:
    """CPU seconds used so far by each stack service."""
    return {
        name: tree_cpu_seconds(Service(name, state.resolve()).pid())
        for name in ("prefect-server", "azurite", "arm")
    }


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def fault_stack(args: argparse.Namespace) -> dict[str, Any]:
    """stack.up's faults argument: copies pending at a MiB/s rate, nothing failing."""
    if not args.copy_mib_per_s:
        return {}
    from devstack.faults import FaultProfile

    return {"faults": FaultProfile(copy_mib_per_s=args.copy_mib_per_s)}


def reset_seen(config: Any, args: argparse.Namespace) -> None:
    if args.copy_mib_per_s:
        from devstack.faults import reset_counters

        reset_counters(config)


def stack_seen(config: Any, args: argparse.Namespace) -> dict[str, int] | None:
    """Peak concurrency, copies and images as the fault stack counted them."""
    if not args.copy_mib_per_s:
        return None
    from devstack.faults import read_counters

    seen = read_counters(config)
    return {
        "copies": seen.storage.max_copies,
        "per_account": max(seen.storage.max_copies_per_account.values(), default=0),
        "images_per_subscription": max(
            seen.arm.max_image_operations_per_subscription.values(), default=0
        ),
        "copies_started": seen.storage.copies_started,
        "images_created": seen.arm.images_created,
    }


def run_imagerelay(
    figures: dict[str, Any],
    args: argparse.Namespace,
    database: str,
    config: Any,
    plan: Path,
    specs: list[str],
) -> None:
    state = config.state_dir
    before = stack_cpu(state)
    reset_seen(config, args)
    deadline = args.deadline_minutes * 60 if args.deadline_minutes else None
    side = run_side("fanout_imagerelay", state, plan, database, specs, deadline)
    side["stack_cpu"] = cpu_delta(before, stack_cpu(state))
    side["seen"] = stack_seen(config, args)
    figures["imagerelay"] = side
    stopped = " (stopped at the deadline)" if side.get("stopped") else ""
    print(f"[{database}] imagerelay {side['seconds']:.1f} s{stopped}", flush=True)


def run_database(
    args: argparse.Namespace, database: str, root: Path, plan: Path, floor: bool
) -> dict[str, Any]:
    """Stack up with the server on one database, run the sides, stack down."""
    state = root / database / "stack"
    state.parent.mkdir(parents=True)
    figures: dict[str, Any] = {}
    with ExitStack() as cleanup:
        if database == "postgres":
            url = cleanup.enter_context(fanout_postgres.cluster())
            os.environ["IMAGERELAY_STACK_DATABASE_URL"] = url
            cleanup.callback(os.environ.pop, "IMAGERELAY_STACK_DATABASE_URL", None)
        if database == "sqlite":
            os.environ["IMAGERELAY_TARGETS_IN_FLIGHT"] = str(args.sqlite_in_flight)
            cleanup.callback(os.environ.pop, "IMAGERELAY_TARGETS_IN_FLIGHT", None)
        figures["load_before"] = os.getloadavg()[0]
        started = time.perf_counter()
        cleanup.callback(devstack.down, state, env_file=None)
        config = devstack.up(
            state, plan, worker=False, env_file=None, **fault_stack(args)
        )
        figures["stack_up_seconds"] = time.perf_counter() - started
        print(
            f"[{database}] stack up in {figures['stack_up_seconds']:.0f} s", flush=True
        )
        specs = upload_vhds(config, plan, state.parent, args.size_mib)
        if floor:
            before = stack_cpu(state)
            reset_seen(config, args)
            figures["floor"] = run_side("fanout_floor", state, plan, "floor", specs)
            figures["floor"]["stack_cpu"] = cpu_delta(before, stack_cpu(state))
            figures["floor"]["seen"] = stack_seen(config, args)
            print(f"[{database}] floor {figures['floor']['seconds']:.1f} s", flush=True)
        if not args.floor_only:
            run_imagerelay(figures, args, database, config, plan, specs)
        figures["load_after"] = os.getloadavg()[0]
        figures["server_peak_rss_mib"] = tree_peak_rss_mib(
            Service("prefect-server", state.resolve()).pid()
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--tier1-copies", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=20)
    parser.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="comma-separated: sqlite,postgres",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--copy-mib-per-s",
        type=float,
        default=10.0,
        help="copy rate of the fault stack (a 20 MiB VHD: ~2 s); 0: instant copies "
        "without the fault proxy, concurrency counted in-process only",
    )
    parser.add_argument(
        "--sqlite-in-flight",
        type=int,
        default=10,
        help="IMAGERELAY_TARGETS_IN_FLIGHT with the server on SQLite",
    )
    parser.add_argument(
        "--floor-only", action="store_true", help="run the floor and stop there"
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="run imagerelay only (the floor of an earlier run is the reference)",
    )
    parser.add_argument(
        "--deadline-minutes",
        type=float,
        help="stop an imagerelay run after this long and report what it got done "
        "(images created, rate) instead of its full figures",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's logs (not the stack)"
    )
    args = parser.parse_args()
    databases = [d for d in args.databases.split(",") if d]
    if not set(databases) <= {"sqlite", "postgres"}:
        raise SystemExit("--databases takes sqlite and/or postgres")

    from imagerelay.settings import Settings

    with tempfile.TemporaryDirectory(prefix="imagerelay-fanout-") as scratch:
        root = Path(scratch)
        if args.keep:
            root = Path(tempfile.mkdtemp(prefix="imagerelay-fanout-"))
            print(f"logs and results stay in {root}", flush=True)
        plan = root / "inventory.yaml"
        targets = build_inventory(
            plan, args.subscriptions, args.regions, args.tier1_copies
        )
        print(f"{targets} targets, {len(IMAGES)} images", flush=True)
        results = {}
        for index, database in enumerate(databases):
            results[database] = run_database(
                args, database, root, plan, floor=index == 0 and not args.no_floor
            )
    report(targets, len(IMAGES), Settings(), results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
