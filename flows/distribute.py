"""One target: copy the VHD into its account, then make its managed image."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from prefect import flow, get_run_logger

from blocks.tier0 import Tier0Storage
from imagerelay.inventory import Target
from imagerelay.ledger import Ledger
from imagerelay.models import Release, TargetState
from imagerelay.redact import redact_text
from tasks.image import create_image
from tasks.tier2 import copy_to_target


@dataclass(frozen=True)
class Tier0Session:
    """The tier-0 block and an open ledger, shared by a release's target runs."""

    block_name: str
    tier0: Tier0Storage
    ledger: Ledger
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)


_session: ContextVar[Tier0Session | None] = ContextVar("tier0_session", default=None)


@asynccontextmanager
async def tier0_session(
    block_name: str, tier0: Tier0Storage | None = None, *, share: bool = False
) -> AsyncIterator[Tier0Session]:
    """The release's session if it shares one on this loop, else a new one.

    With share=True the new session is offered to every target run in this context,
    so a release loads the block once and keeps one ledger connection pool, instead
    of one per target.
    """
    current = _session.get()
    if (
        current is not None
        and current.block_name == block_name
        and current.loop is asyncio.get_running_loop()
    ):
        yield current
        return
    tier0 = tier0 or await Tier0Storage.load(block_name)
    async with tier0.table_service() as tables:
        session = Tier0Session(
            block_name, tier0, Ledger(tables.get_table_client(tier0.ledger_table))
        )
        token = _session.set(session) if share else None
        try:
            yield session
        finally:
            if token is not None:
                _session.reset(token)


@flow(name="distribute", flow_run_name="{release.id}-{target.storage_account}")
async def distribute(
    release: Release, target: Target, tier1_blobs: list[str], tier0_block: str
) -> str:
    """Deliver one release to one target and return the image id.

    Args:
        tier1_blobs: tier-1 copies to read from, this target's own first.
    """
    logger = get_run_logger()
    async with tier0_session(tier0_block) as session:
        ledger = session.ledger
        await ledger.record(
            release, target, TargetState.COPYING, source_blob=tier1_blobs[0]
        )
        try:
            copy = await copy_to_target(session.tier0, release, target, tier1_blobs)
            await ledger.record(
                release,
                target,
                TargetState.IMAGING,
                destination_blob=copy.destination,
                copy_seconds=copy.seconds,
                copy_reused=copy.skipped,
            )

            image = await create_image(release, target, copy.destination)
            await ledger.record(
                release,
                target,
                TargetState.DONE,
                image_id=image.image_id,
                image_seconds=image.seconds,
                image_reused=image.skipped,
                error="",
            )
        except Exception as exc:
            await ledger.record(
                release, target, TargetState.FAILED, error=redact_text(str(exc))
            )
            raise
    logger.info("Target %s done: %s", target.label, image.image_id)
    return image.image_id
