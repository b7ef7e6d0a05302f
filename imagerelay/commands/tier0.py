"""Tier-0 for CLI commands: the same Tier0Storage block the flows read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from azure.storage.blob.aio import ContainerClient

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
        block.credentials.get_container_client(container) as blobs,
        block.table_service() as tables,
    ):
        yield Tier0Access(blobs, Ledger(tables.get_table_client(block.ledger_table)))


def ui_url(settings: Settings) -> str:
    """The Prefect UI base URL: IMAGERELAY_UI_URL, else Prefect's own setting."""
    from prefect.settings import PREFECT_UI_URL

    return (settings.ui_url or PREFECT_UI_URL.value() or "").rstrip("/")
