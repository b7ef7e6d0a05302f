"""`imagerelay inventory generate`: a target for every subscription x region."""

from __future__ import annotations

from collections.abc import Callable
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
    unknown_regions,
    write_inventory,
)
from imagerelay.settings import get_settings

DEFAULT_TIER0_GROUP = "imagerelay-tier0"
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
    ] = DEFAULT_TIER0_GROUP,
) -> None:
    """Add a target per subscription x region; existing targets stay as they are."""
    path = output or get_settings().inventory
    try:
        check_prefix(prefix)
        subscription_ids = read_subscriptions(subscriptions)
        region_names = read_regions(regions)
        existing = read_existing(path)
        tier0 = existing.tier0
        tier0_asked = tier0_subscription or tier0_region
        if tier0 is None:
            tier0 = new_tier0(
                prefix,
                _one(read_subscriptions, tier0_subscription, "--tier0-subscription")
                or subscription_ids[0],
                _one(read_regions, tier0_region, "--tier0-region") or region_names[0],
                tier0_resource_group,
            )
        elif tier0_asked or tier0_resource_group != DEFAULT_TIER0_GROUP:
            console.print(
                f"note: {existing.path} has tier-0 settings already; the --tier0-* "
                "options are ignored (edit the file to change them)"
            )
        defaults = TargetDefaults(
            image_resource_group=image_resource_group,
            storage_resource_group=storage_resource_group,
        )
        inventory, added = extend_inventory(
            subscription_ids, region_names, prefix, existing.inventory, tier0, defaults
        )
        write_inventory(existing, inventory, added)
    except (InventoryError, ValueError, OSError) as exc:
        fail(str(exc))

    for region in unknown_regions(region_names):
        console.print(
            f"warning: {region} is not a region imagerelay knows; check the spelling "
            "(`az account list-locations -o table`) before running setup"
        )
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
    added_text = f"{len(added)} target{'' if len(added) == 1 else 's'} added"
    console.print(f"{existing.path}: {added_text}, {kept} kept")


def _one(read: Callable[[list[str]], list[str]], value: str | None, option: str) -> str:
    """The single id or region an option names; refuses a list."""
    if value is None:
        return ""
    found = read([value])
    if len(found) > 1:
        raise InventoryError(f"{option} takes one value, not {len(found)}")
    return found[0]
