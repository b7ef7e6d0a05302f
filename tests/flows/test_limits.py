"""Releases run under Prefect concurrency limits that setup creates."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.states import State

from devstack.config import StackConfig
from flows.release import release_flow
from flows.setup import setup_flow
from imagerelay.inventory import load_inventory
from imagerelay.limits import account_copies, planned_limits
from imagerelay.settings import get_settings
from tests.conftest import TEST_INVENTORY
from tests.flows.test_release import IMAGE, RELEASE, uploaded_vhd  # noqa: F401


async def _limits() -> dict[str, int]:
    async with get_client() as client:
        page = await client.read_global_concurrency_limits(limit=200)
    return {limit.name: limit.limit for limit in page}


async def _release_then_setup(vhd: str) -> State:
    """Run a release, then the setup flow, which puts every limit back."""
    try:
        return await release_flow(
            os_type="Linux",
            image_name=f"{IMAGE}-limits",
            release_id=RELEASE,
            vhd=vhd,
            return_state=True,
        )
    finally:
        await setup_flow()


async def test_the_stack_creates_every_planned_limit(stack: StackConfig) -> None:
    planned = planned_limits(load_inventory(TEST_INVENTORY), get_settings())

    existing = await _limits()

    assert {name: existing.get(name) for name in planned} == planned


async def test_a_missing_limit_stops_the_release_before_any_copy(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    victim = account_copies(plan.enabled_targets[0].storage_account)
    async with get_client() as client:
        await client.delete_global_concurrency_limit_by_name(victim)
    state = await _release_then_setup(uploaded_vhd)

    assert state.is_failed()
    assert victim in (state.message or "")
    assert "setup" in (state.message or "")
    assert victim in await _limits()


async def test_a_disabled_limit_stops_the_release_and_setup_enables_it(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    victim = account_copies(plan.enabled_targets[1].storage_account)
    async with get_client() as client:
        await client.update_global_concurrency_limit(
            victim, GlobalConcurrencyLimitUpdate(active=False)
        )
    state = await _release_then_setup(uploaded_vhd)

    assert state.is_failed()
    assert f"{victim} (disabled)" in (state.message or "")
    async with get_client() as client:
        restored = await client.read_global_concurrency_limit_by_name(victim)
    assert restored.active


@pytest.mark.parametrize("size", [1, 4])
async def test_setup_resizes_limits_idempotently(
    stack: StackConfig, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGERELAY_LIMIT_COPIES_PER_ACCOUNT", str(size))
    get_settings.cache_clear()
    try:
        first = await setup_flow()
        second = await setup_flow()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        await setup_flow()

    assert first.limits == second.limits
    assert all(
        value == size
        for name, value in first.limits.items()
        if name.startswith("imagerelay-copies-")
    )
    resized = [s for s in first.steps if s.kind == "concurrency limit"]
    assert {s.action for s in resized} <= {"update", "keep"}
    assert {s.action for s in second.steps} == {"keep"}
