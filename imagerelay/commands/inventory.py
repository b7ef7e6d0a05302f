"""`imagerelay inventory generate`: a target for every subscription x region."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imagerelay.commands import fail, make_console
from imagerelay.inventory import InventoryError
from imagerelay.inventory_generate import (
    TargetDefaults,
    check_prefix,
    extend_inventory,
    new_tier0,
    read_existing,
    read_regions,
    read_subscriptions,
    write_inventory,
)
from imagerelay.settings import get_settings

app = typer.Typer(help="Write and check inventory files.")
console = make_console()


@app.command("generate")
def generate(
    subscriptions: Annotated[
        list[str],
        typer.Option(
            help="Subscription ids, comma lists, or files of ids (one per line, or "
            "`az account list` JSON); repeat the option for more."
        ),
    ],
    regions: Annotated[
        list[str],
        typer.Option(help="Regions, e.g. westeurope; repeat or separate with commas."),
    ],
    prefix: Annotated[
        str,
        typer.Option(help="Start of every new storage account name (1-14 a-z0-9)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(help="Inventory file to extend or create; IMAGERELAY_INVENTORY."),
    ] = None,
    image_resource_group: Annotated[
        str, typer.Option(help="Image resource group of new targets.")
    ] = "imagerelay-images",
    storage_resource_group: Annotated[
        str | None,
        typer.Option(help="Storage account group of new targets; the image group."),
    ] = None,
    tier0_subscription: Annotated[
        str | None,
        typer.Option(help="Tier-0 subscription of a new file; the first one given."),
    ] = None,
    tier0_region: Annotated[
        str | None,
        typer.Option(help="Tier-0 region of a new file; the first region given."),
    ] = None,
    tier0_resource_group: Annotated[
        str, typer.Option(help="Tier-0 resource group of a new file.")
    ] = "imagerelay-tier0",
) -> None:
    """Add a target per subscription x region; existing targets stay as they are."""
    path = output or get_settings().inventory
    try:
        check_prefix(prefix)
        subscription_ids = read_subscriptions(subscriptions)
        region_names = read_regions(regions)
        existing = read_existing(path)
        tier0 = None
        if existing is None:
            tier0 = new_tier0(
                prefix,
                read_subscriptions([tier0_subscription])[0]
                if tier0_subscription
                else subscription_ids[0],
                read_regions([tier0_region])[0] if tier0_region else region_names[0],
                tier0_resource_group,
            )
        defaults = TargetDefaults(
            image_resource_group=image_resource_group,
            storage_resource_group=storage_resource_group,
        )
        inventory, added = extend_inventory(
            subscription_ids, region_names, prefix, existing, tier0, defaults
        )
        write_inventory(path, inventory, added)
    except (InventoryError, ValueError, OSError) as exc:
        fail(str(exc))

    table = Table("subscription", "region", "storage account", "image group")
    for target in added:
        table.add_row(
            target.subscription_id,
            target.region,
            target.storage_account,
            target.image_resource_group,
        )
    if added:
        console.print(table)
    kept = len(inventory.targets) - len(added)
    console.print(f"{path}: {len(added)} targets added, {kept} kept")
