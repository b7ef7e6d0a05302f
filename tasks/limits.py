"""Concurrency limits: create them, check they exist, hold their slots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency

from imagerelay.errors import PermanentError
from imagerelay.limits import missing_limits

SETUP_HINT = (
    "run the setup flow (`prefect deployment run setup/imagerelay`, or "
    "`imagerelay stack up` on the local stack)"
)


class LimitsMissing(PermanentError):
    """A concurrency limit the release needs was never created."""


@task(name="apply-limits")
async def apply_limits(limits: dict[str, int]) -> None:
    """Create or resize every limit; limits not named here are left alone."""
    async with get_client() as client:
        for name, size in limits.items():
            await client.upsert_global_concurrency_limit_by_name(name, size)
    get_run_logger().info("%d concurrency limits in place", len(limits))


@task(name="check-limits", retries=2, retry_delay_seconds=5)
async def check_limits(limits: dict[str, int]) -> None:
    """Fail before any copy if a limit is missing, so nothing runs unthrottled."""
    existing: set[str] = set()
    async with get_client() as client:
        while page := await client.read_global_concurrency_limits(
            limit=200, offset=len(existing)
        ):
            existing |= {limit.name for limit in page}
    missing = missing_limits(limits, existing)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise LimitsMissing(
            f"{len(missing)} concurrency limits do not exist ({shown}); {SETUP_HINT}"
        )


@asynccontextmanager
async def hold(names: list[str]) -> AsyncIterator[None]:
    """Hold one slot of each limit while the block runs; a missing limit is an error."""
    async with concurrency(names, occupy=1, strict=True):
        yield
