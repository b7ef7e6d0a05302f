"""The `imagerelay` command line."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from imagerelay.commands import images, upload

app = typer.Typer(
    help="Distribute a golden VHD as managed images to every Azure target.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("upload")(upload.upload)
app.add_typer(images.app, name="images")


def _add_plugins() -> None:
    """Command groups other packages register, such as the dev stack's `stack`."""
    for entry in entry_points(group="imagerelay.cli"):
        app.add_typer(entry.load(), name=entry.name)


def main() -> None:
    _add_plugins()
    app()
