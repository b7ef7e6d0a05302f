"""The `imagerelay` command line."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer
from pydantic import ValidationError

from imagerelay.commands import cleanup, fail, images, status, upload, vhd

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


def _add_plugins() -> None:
    """Command groups other packages register, such as the dev stack's `stack`."""
    for entry in entry_points(group="imagerelay.cli"):
        app.add_typer(entry.load(), name=entry.name)


def main() -> None:
    _add_plugins()
    try:
        app()
    except ValidationError as exc:
        fields = "; ".join(
            f"IMAGERELAY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        try:
            fail(f"invalid setting: {fields}")
        except typer.Exit as exit_:
            raise SystemExit(exit_.exit_code) from None
