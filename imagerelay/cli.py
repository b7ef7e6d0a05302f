"""The `imagerelay` command line."""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from imagerelay.commands import (
    cleanup,
    fail,
    images,
    inventory,
    remove,
    setup,
    status,
    upload,
    vhd,
)

app = typer.Typer(
    help="Distribute a golden VHD as managed images to every Azure target.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("upload")(upload.upload)
app.command("status")(status.status)
app.command("cleanup")(cleanup.cleanup)
app.add_typer(images.app, name="images")
app.add_typer(vhd.app, name="vhd")
app.add_typer(inventory.app, name="inventory")
app.command("setup")(setup.setup)
app.command("remove")(remove.remove)


def _add_plugins() -> None:
    """Command groups other packages register, such as the dev stack's `stack`."""
    for entry in entry_points(group="imagerelay.cli"):
        app.add_typer(entry.load(), name=entry.name)


def main() -> None:
    # At exit Prefect drains the events this process queued and warns "Still
    # processing items: N items remaining..." while it does: true, but not news
    # to an operator who ran `imagerelay status`.
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    _add_plugins()
    try:
        app()
    except ValidationError as exc:
        fields = "; ".join(_setting(e["loc"]) + f": {e['msg']}" for e in exc.errors())
        _exit(f"invalid setting: {fields}")
    except SettingsError as exc:
        # pydantic-settings raises this for a list or dict setting that is not JSON,
        # naming the field but never the value (which may be a key).
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"IMAGERELAY_{found.group(1).upper()}" if found else "a setting"
        _exit(
            f"invalid setting: {name} is not valid JSON; write it as a JSON object "
            """or list, e.g. '{"account": "value"}'"""
        )


def _setting(loc: tuple[int | str, ...]) -> str:
    """IMAGERELAY_STORAGE_KEYS["acct"] for the key acct of a dict setting."""
    name = f"IMAGERELAY_{str(loc[0]).upper()}" if loc else "a setting"
    return name + "".join(f"[{part!r}]" for part in loc[1:])


def _exit(message: str) -> None:
    try:
        fail(message)
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None
