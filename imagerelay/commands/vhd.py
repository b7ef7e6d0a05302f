"""`imagerelay vhd inspect`: what a disk file is, and whether Azure will take it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagerelay.commands import fail, make_console
from imagerelay.disk_format import DiskFile, check_upload, read_disk
from imagerelay.vhd import MIB, VhdError

app = typer.Typer(help="Look at disk files before they are uploaded.")
console = make_console()


def _size(size: int | None) -> str:
    """A byte count with its MiB figure, or 'unknown'."""
    if size is None:
        return "unknown"
    return f"{size:,} bytes ({size / MIB:,.2f} MiB)"


def _describe(disk: DiskFile) -> list[tuple[str, str]]:
    """The rows `vhd inspect` prints for a disk file."""
    return [
        ("format", str(disk.container)),
        ("file size", _size(disk.file_size)),
        ("virtual size", _size(disk.virtual_size)),
        ("allocated", _size(disk.allocated)),
        ("partitions", disk.generation_hint),
    ]


@app.command("inspect")
def inspect(
    file: Annotated[Path, typer.Argument(help="VHD, raw disk or other image file.")],
) -> None:
    """Print a disk file's format, sizes and partition style, and Azure's verdict."""
    try:
        disk = read_disk(file)
    except VhdError as exc:
        fail(str(exc))

    for label, value in _describe(disk):
        console.print(f"{label + ':':<14}{value}", markup=False, highlight=False)
    try:
        action = check_upload(disk)
    except VhdError as exc:
        console.print(f"{'azure:':<14}refused", markup=False, highlight=False)
        fail(str(exc))
    console.print(f"{'azure:':<14}{action}", markup=False, highlight=False)
