"""`imagerelay images list`: the managed images of a release, read back from Azure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.table import Table

from imagerelay import clients
from imagerelay.commands import make_console
from imagerelay.commands.tier0 import run_inventory
from imagerelay.images import source_blob_uri
from imagerelay.inventory import Inventory
from imagerelay.settings import get_settings

app = typer.Typer(help="Managed images in the inventory's targets.")
console = make_console()


@app.command("list")
def list_images(
    release: Annotated[
        str | None, typer.Option(help="Only images tagged with this release.")
    ] = None,
    image_name: Annotated[
        str | None, typer.Option(help="Only images of this base name.")
    ] = None,
    inventory: Annotated[Path | None, typer.Option(help="Inventory file.")] = None,
) -> None:
    """List images in every target's image resource group."""
    rows = sorted(asyncio.run(_collect(run_inventory(inventory), release)))
    if image_name:
        rows = [
            row for row in rows if row[2].split("/")[1].startswith(f"{image_name}-")
        ]
    table = Table("subscription", "region", "resource group/image", "state", "VHD")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"{len(rows)} images")


async def _collect(plan: Inventory, release: str | None) -> list[tuple[str, ...]]:
    settings = get_settings()
    groups = sorted({(t.subscription_id, t.image_resource_group) for t in plan.targets})
    rows: list[tuple[str, ...]] = []
    async with clients.arm_credential() as credential:
        for subscription, group in groups:
            async with clients.compute_client(
                settings, credential, subscription
            ) as compute:
                async for image in compute.images.list_by_resource_group(group):
                    if (
                        release
                        and (image.tags or {}).get("imagerelay-release") != release
                    ):
                        continue
                    state = (
                        image.properties.provisioning_state if image.properties else ""
                    )
                    rows.append(
                        (
                            subscription,
                            image.location,
                            f"{group}/{image.name}",
                            str(state),
                            _blob_path(source_blob_uri(image) or ""),
                        )
                    )
    return rows


def _blob_path(blob_uri: str) -> str:
    """account/container/blob of a blob URL, whatever the endpoint looks like."""
    parts = urlsplit(blob_uri)
    account = parts.hostname.split(".")[0] if parts.hostname else ""
    path = parts.path.lstrip("/")
    return (
        path
        if not account or not path or "blob.core" not in blob_uri
        else (f"{account}/{path}")
    )
