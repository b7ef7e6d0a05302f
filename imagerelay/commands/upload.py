"""`imagerelay upload`: send a golden VHD to tier-0 and optionally start its release."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from imagerelay.commands import fail, make_console
from imagerelay.commands.release_run import start_release
from imagerelay.commands.upload_disk import upload_disk
from imagerelay.intake import IntakeError, IntakeOutcome, IntakeRequest, take_in
from imagerelay.models import HyperVGeneration, OsType
from imagerelay.settings import get_settings


class OsChoice(StrEnum):
    linux = "linux"
    windows = "windows"


class GenerationChoice(StrEnum):
    V1 = "V1"
    V2 = "V2"


console = make_console(stderr=True)


def upload(
    release: Annotated[str, typer.Option(help="Release id, e.g. 2026.12.")],
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Disk to upload: fixed or dynamic VHD, raw disk, or VHDX, qcow2, "
            "VMDK, VDI or QED (converted with qemu-img)."
        ),
    ] = None,
    os_type: Annotated[
        OsChoice | None,
        typer.Option(
            help="Guest OS of the image (with --from-disk: the disk's if unset).",
            case_sensitive=False,
        ),
    ] = None,
    hyper_v_generation: Annotated[
        GenerationChoice | None,
        typer.Option(
            help="V1 (BIOS) or V2 (UEFI); from the partition table if unset "
            "(MBR: V1, else V2).",
            case_sensitive=False,
        ),
    ] = None,
    image_name: Annotated[
        str | None,
        typer.Option(help="Base name of the images; golden-<os-type> if unset."),
    ] = None,
    run: Annotated[
        bool, typer.Option("--run", help="Start the release deployment afterwards.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Parallel page writes (IMAGERELAY_UPLOAD_THREADS)."
        ),
    ] = None,
    resize: Annotated[
        bool,
        typer.Option(
            "--resize",
            help="Grow a VHD whose size is not a whole MiB to the next MiB.",
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace a finished upload of a different file."
        ),
    ] = False,
    inventory: Annotated[
        Path | None, typer.Option(help="Inventory file (IMAGERELAY_INVENTORY).")
    ] = None,
    from_disk: Annotated[
        str | None,
        typer.Option(help="Copy this managed disk (resource id) instead of a FILE."),
    ] = None,
) -> None:
    """Check a disk, upload it to tier-0 as a fixed VHD page blob and stamp it.

    An interrupted upload (Ctrl-C, network error, killed process) leaves an
    unstamped partial blob that no release uses; the same command run again sends
    only what is missing, reads back what is kept, and stamps the MD5.
    """
    settings = get_settings()
    if from_disk is not None:
        done = upload_disk(
            settings,
            from_disk,
            file=file,
            release=release,
            os_type=os_type,
            hyper_v_generation=hyper_v_generation,
            image_name=image_name,
            replace=replace,
            inventory=inventory,
        )
        if run:
            start_release(
                settings,
                release,
                done.image_name,
                done.os_type,
                done.hyper_v_generation,
                done.blob_name,
            )
        return
    if file is None or os_type is None:
        fail("give a FILE and --os-type, or --from-disk DISK_ID")

    os_name: OsType = "Windows" if os_type is OsChoice.windows else "Linux"
    chosen: HyperVGeneration | None = None
    if hyper_v_generation is not None:
        chosen = "V1" if hyper_v_generation.value.upper() == "V1" else "V2"
    request = IntakeRequest(
        file=file,
        release=release,
        os_type=os_name,
        hyper_v_generation=chosen,
        image_name=image_name,
        resize=resize,
        replace=replace,
        threads=threads,
        inventory=inventory,
    )
    try:
        outcome = _take_in_with_progress(request)
    except IntakeError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, SystemExit) as exc:
        console.print(
            "interrupted: a partial upload, if one was started, stays in tier-0 "
            "unstamped, so no release uses it; run the same command again to send "
            "only what is missing"
        )
        raise typer.Exit(130 if isinstance(exc, KeyboardInterrupt) else 143) from None
    _print_outcome(outcome)
    print(outcome.blob_name)

    if run:
        start_release(
            settings,
            release,
            outcome.image_name,
            os_name,
            outcome.hyper_v_generation,
            outcome.blob_name,
        )


def _take_in_with_progress(request: IntakeRequest) -> IntakeOutcome:
    """Run the intake under a transfer bar, with SIGTERM treated like Ctrl-C."""
    columns = (
        "{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with (
        _exit_on_sigterm(),
        Progress(*columns, console=console, transient=True) as bar,
    ):
        task: list[TaskID] = []

        def progress(done: int, total: int) -> None:
            if not task:
                task.append(bar.add_task(f"uploading {request.file.name}", total=total))
            bar.update(task[0], completed=done)

        def say(line: str) -> None:
            console.print(escape(line).replace("warning:", "[yellow]warning:[/yellow]"))

        return take_in(request, get_settings(), say, progress)


def _print_outcome(outcome: IntakeOutcome) -> None:
    """One line on what was sent, kept and stamped."""
    result = outcome.result
    if result is None:
        return
    kept = ""
    if result.resumed:
        kept = f", {result.bytes_kept:,} bytes kept from the interrupted upload"
    console.print(
        f"uploaded {outcome.blob_name}: {result.size / 2**20:,.0f} MiB in "
        f"{result.seconds:.1f} s ({result.mib_per_second:.0f} MiB/s), "
        f"{result.bytes_sent / 2**20:,.1f} MiB sent ({result.bytes_sent:,} bytes, "
        f"zero ranges skipped){kept}, MD5 {result.md5}"
    )


@contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception, so a stopped upload ends like Ctrl-C."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
