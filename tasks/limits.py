"""Concurrency limits: create them, check they exist, hold their slots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect import get_run_logger, task
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.concurrency.asyncio import concurrency

from imagerelay.errors import PermanentError
from imagerelay.provision_plan import Step
from tasks.retry import transient_only

SETUP_HINT = (
    "run the setup flow (`prefect deployment run setup/imagerelay`, or "
    "`imagerelay stack up` on the local stack)"
)


class LimitsMissing(PermanentError):
    """A concurrency limit the release needs was never created."""


@task(name="plan-limits")
async def plan_limits(limits: dict[str, int]) -> list[Step]:
    """Create, update (resize or re-enable) or keep, for every planned limit."""
    async with get_client() as client:
        existing = await _read_limits(client)
    steps = []
    for name, size in limits.items():
        current = existing.get(name)
        if current is None:
            action, detail = "create", f"limit {size}"
        elif current.limit != size or not current.active:
            state = "" if current.active else ", disabled"
            action, detail = "update", f"limit {current.limit}{state} -> {size}"
        else:
            action, detail = "keep", f"limit {size}"
        steps.append(
            Step(
                kind="concurrency limit",
                name=name,
                where="prefect",
                action=action,
                detail=detail,
            )
        )
    return steps


@task(name="apply-limits")
async def apply_limits(limits: dict[str, int]) -> None:
    """Create, resize or re-enable every limit; limits not named here are left alone."""
    async with get_client() as client:
        existing = await _read_limits(client)
        for name, size in limits.items():
            current = existing.get(name)
            if current is None:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=size)
                )
            elif current.limit != size or not current.active:
                await client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=size, active=True)
                )
    get_run_logger().info("%d concurrency limits in place", len(limits))


@task(
    name="check-limits",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
)
async def check_limits(limits: dict[str, int]) -> None:
    """Fail before any copy unless every limit exists, is active and allows work.

    Prefect does not throttle on an inactive limit, and a limit of 0 never lets a
    copy start: either would break the release silently.
    """
    async with get_client() as client:
        existing = await _read_limits(client)
    unusable = [
        f"{name} ({_problem(existing.get(name))})"
        for name in sorted(limits)
        if _problem(existing.get(name))
    ]
    if unusable:
        shown = ", ".join(unusable[:5]) + (" ..." if len(unusable) > 5 else "")
        raise LimitsMissing(
            f"{len(unusable)} concurrency limits are missing or unusable: {shown}; "
            f"{SETUP_HINT}"
        )


def _problem(limit: GlobalConcurrencyLimitResponse | None) -> str:
    if limit is None:
        return "missing"
    if not limit.active:
        return "disabled"
    return "limit 0" if limit.limit < 1 else ""


async def _read_limits(
    client: PrefectClient,
) -> dict[str, GlobalConcurrencyLimitResponse]:
    """Every global concurrency limit on the server, by name."""
    limits: dict[str, GlobalConcurrencyLimitResponse] = {}
    while page := await client.read_global_concurrency_limits(
        limit=200, offset=len(limits)
    ):
        limits |= {limit.name: limit for limit in page}
    return limits


@asynccontextmanager
async def hold(names: list[str]) -> AsyncIterator[None]:
    """Hold one slot of each limit while the block runs; a missing limit is an error."""
    async with concurrency(names, occupy=1, strict=True):
        yield
