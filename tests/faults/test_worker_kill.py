"""SIGKILL the worker mid-release; the re-run finishes every target, nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.deployments import run_deployment

from devstack import faults, services
from devstack import stack as devstack
from devstack.config import StackConfig
from devstack.faults import FaultProfile
from devstack.processes import Service
from imagerelay.inventory import load_inventory
from tests.conftest import PROJECT_ROOT, TEST_INVENTORY
from tests.faults.conftest import RELEASE, SetProfile, ledger_entities
from tests.flows.test_release import uploaded_vhd  # noqa: F401

IMAGE = "golden-killed"


@pytest.fixture(scope="module")
def worker(stack: StackConfig) -> Iterator[Service]:
    """The deployments of prefect.yaml and a process worker, stopped afterwards."""
    env = devstack.service_env(stack, TEST_INVENTORY)
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    service = Service("worker", stack.state_dir)
    services.start_worker(stack, env)
    try:
        yield service
    finally:
        services.stop(service)


def _processes_of_run(flow_run_id: str) -> list[int]:
    """Pids whose environment names this flow run (the worker's child runs it)."""
    mark = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


async def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_killed_worker_leaves_nothing_done_twice(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
    fault_profile: SetProfile,
    worker: Service,
) -> None:
    targets = load_inventory(TEST_INVENTORY).enabled_targets
    accounts = {t.storage_account for t in targets}
    fault_profile(FaultProfile(copy_mib_per_s=16, image_seconds=2))
    parameters = {
        "os_type": "Linux",
        "image_name": IMAGE,
        "release_id": RELEASE,
        "vhd": uploaded_vhd,
    }

    def target_copies() -> int:
        started = faults.read_counters(stack).storage.copies_started_per_account
        return sum(n for account, n in started.items() if account in accounts)

    first = await run_deployment("release/golden", parameters=parameters, timeout=0)
    await _wait_for(lambda: target_copies() >= 1, 240, "a copy to a target")
    assert faults.read_counters(stack).arm.images_created < len(targets)
    pid = worker.pid()
    assert pid is not None
    # The machine dies: the worker and the flow run process, which Prefect starts
    # in a session of its own.
    os.killpg(pid, signal.SIGKILL)
    for orphan in _processes_of_run(str(first.id)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)
    await _wait_for(lambda: worker.pid() is None, 10, "the worker to die")
    await _wait_for(
        lambda: not _processes_of_run(str(first.id)), 10, "the flow run to die"
    )
    before = {
        e["target_key"]: e["state"] for e in ledger_entities(stack, RELEASE, IMAGE)
    }
    assert set(before.values()) - {"done"}, "the release finished before the kill"

    services.start_worker(stack, devstack.service_env(stack, TEST_INVENTORY))
    second = await run_deployment("release/golden", parameters=parameters, timeout=600)

    assert second.state is not None and second.state.is_completed(), second.state
    entities = ledger_entities(stack, RELEASE, IMAGE)
    assert {e["target_key"]: e["state"] for e in entities} == {
        t.key: "done" for t in targets
    }
    seen = faults.read_counters(stack)
    assert target_copies() == len(targets), seen.storage.copies_started_per_account
    assert seen.arm.images_created == len(targets)
