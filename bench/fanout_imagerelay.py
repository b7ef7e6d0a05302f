"""imagerelay's side of the fan-out bench: the release flows, as a worker runs them.

A process worker starts each flow run in a fresh Python process; this script is that
process, running one release flow per image at once, so its peak memory is the flow
run's. Run by bench/fanout.py as `python bench/fanout_imagerelay.py STATE_DIR
INVENTORY RESULT RELEASE VHD:OS_TYPE:IMAGE...`. With IMAGERELAY_BENCH_PROFILE=FILE
set it runs under cProfile and writes the stats there.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

from fanout_probe import Probe, stack_ports  # noqa: E402


async def run(release_id: str, images: list[str]) -> dict[str, Any]:
    from flows.release import release_flow

    started = time.perf_counter()
    states = await asyncio.gather(
        *(
            release_flow(
                os_type=os_type,  # type: ignore[arg-type]
                image_name=image,
                release_id=release_id,
                vhd=vhd,
                return_state=True,
            )
            for vhd, os_type, image in (spec.split(":") for spec in images)
        )
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "failed": sum(0 if s.is_completed() else 1 for s in states),
        "states": [f"{s.type.value}: {s.message}"[:300] for s in states],
    }


def main() -> None:
    from devstack.config import StackConfig
    from devstack.stack import flush_prefect_clients, service_env

    state_dir, plan_path, result, release_id, *images = sys.argv[1:]
    config = StackConfig.load(Path(state_dir))
    os.environ.update(service_env(config, Path(plan_path)))
    probe = Probe(stack_ports(config))
    probe.install()
    profile_path = os.environ.get("IMAGERELAY_BENCH_PROFILE")
    if profile_path:
        import cProfile

        with cProfile.Profile() as profiler:
            figures = asyncio.run(run(release_id, images))
        profiler.dump_stats(profile_path)
    else:
        figures = asyncio.run(run(release_id, images))
    flush_prefect_clients()
    probe.write(Path(result), **figures)


if __name__ == "__main__":
    main()
