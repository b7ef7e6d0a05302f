"""Tier-0 for CLI commands: the same Tier0Storage block the flows read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob.aio import ContainerClient

from imagerelay.inventory import Inventory, InventoryError
from imagerelay.ledger import Ledger
from imagerelay.settings import Settings


@dataclass
class Tier0Access:
    """The tier-0 container and the ledger, opened for one command."""

    container: ContainerClient
    ledger: Ledger


@asynccontextmanager
async def open_tier0(
    settings: Settings, container: str, block_name: str | None = None
) -> AsyncIterator[Tier0Access]:
    """Load the Tier0Storage block (needs PREFECT_API_URL) and open its clients."""
    from blocks.tier0 import Tier0Storage

    block = await Tier0Storage.load(block_name or settings.tier0_block)
    async with (
        block.container_client(container) as blobs,
        block.table_service() as tables,
    ):
        yield Tier0Access(blobs, Ledger(tables.get_table_client(block.ledger_table)))


def ui_url(settings: Settings) -> str:
    """The Prefect UI base URL: IMAGERELAY_UI_URL, else Prefect's own setting."""
    from prefect.settings import PREFECT_UI_URL

    return (settings.ui_url or PREFECT_UI_URL.value() or "").rstrip("/")


def require_prefect() -> None:
    """Exit 2 naming the fix when the Prefect API does not answer its health check."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    async def unreachable() -> Exception | None:
        async with get_client() as client:
            return await client.api_healthcheck()

    url = PREFECT_API_URL.value()
    if not url:
        return  # Limitation: without a server URL Prefect runs an ephemeral one.
    problem = asyncio.run(unreachable())
    if problem is not None:
        from imagerelay.commands import fail

        fail(
            f"the Prefect API at {url} does not answer ({type(problem).__name__}); "
            "start the local stack with `imagerelay stack up`, or set PREFECT_API_URL "
            "to your Prefect server"
        )


def run_inventory(path: Path | None) -> Inventory:
    """The inventory a release uses (the file given, else the inventory block, else
    IMAGERELAY_INVENTORY), or exit 2 naming what is wrong with it."""
    import asyncio

    from blocks.inventory import load_run_inventory
    from imagerelay.commands import fail
    from imagerelay.settings import get_settings

    if path is None and get_settings().inventory_block:
        require_prefect()  # the block lives in Prefect
    try:
        return asyncio.run(load_run_inventory(str(path) if path else None))
    except InventoryError as exc:
        fail(str(exc))
