"""`imagerelay upload`: send a golden VHD to tier-0 and optionally start its release."""

from __future__ import annotations

import asyncio
import base64
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobClient
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from imagerelay.commands import fail, make_console
from imagerelay.commands.upload_disk import upload_disk
from imagerelay.convert import converted_to_raw, needs_qemu
from imagerelay.disk_format import PartitionStyle, read_disk
from imagerelay.extents import FixedVhdSource, fixed_vhd_md5, open_source
from imagerelay.inventory import Inventory, InventoryError, load_inventory
from imagerelay.naming import (
    NamingError,
    check_image_name,
    check_release,
    managed_image_name,
    upload_blob_name,
)
from imagerelay.redact import redact_text
from imagerelay.settings import Settings, get_settings
from imagerelay.upload import META_MD5, UploadError, UploadResult, upload_source
from imagerelay.vhd import FOOTER_SIZE, VhdError

RELEASE_DEPLOYMENT = "release/golden"


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
        typer.Argument(help="Fixed or dynamic VHD, or raw disk, to upload."),
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
    """Check a disk, upload it to tier-0 as a fixed VHD page blob and stamp it."""
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
            _start_release(
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
    os_name = os_type.value.capitalize()
    image = image_name or f"golden-{os_type.value.lower()}"
    try:
        check_release(release)
        plan = load_inventory(inventory or settings.inventory)
        for region in {t.region for t in plan.enabled_targets}:
            managed_image_name(release, check_image_name(image), region)
        blob_name = upload_blob_name(release, file.name)
        with ExitStack() as scratch:
            disk = read_disk(file)
            if needs_qemu(disk):
                console.print(f"converting {file.name} with qemu-img")
                file_to_send = scratch.enter_context(converted_to_raw(disk))
            else:
                file_to_send = file
            opened, source = open_source(file_to_send, resize=resize)
            generation = _generation(hyper_v_generation, opened.partition_style)
            metadata = {
                "imagerelay_release": release,
                "imagerelay_os_type": os_name,
                "imagerelay_hyper_v_generation": generation,
                "imagerelay_image_name": image,
                "imagerelay_source_file": file.name,
            }
            _upload_checked(
                settings, plan, blob_name, source, metadata, replace, threads
            )
    except (NamingError, InventoryError, VhdError) as exc:
        fail(str(exc))
    print(blob_name)

    if run:
        _start_release(settings, release, image, os_name, generation, blob_name)


def _generation(chosen: GenerationChoice | None, style: PartitionStyle) -> str:
    """The Hyper-V generation to stamp: as chosen, else what the partition table says.

    An MBR disk boots with BIOS (V1); GPT needs UEFI (V2). A choice that contradicts
    the table is kept, with a warning, since hybrid layouts exist.
    """
    suggested = "V1" if style is PartitionStyle.MBR else "V2"
    if chosen is None:
        console.print(f"Hyper-V generation {suggested} ({style} partition table)")
        return suggested
    generation = chosen.value.upper()
    if style in (PartitionStyle.MBR, PartitionStyle.GPT) and generation != suggested:
        console.print(
            f"[yellow]warning:[/yellow] the disk has an {style} partition table, "
            f"which usually boots as {suggested}, not {generation}"
        )
    return generation


def _upload_checked(
    settings: Settings,
    plan: Inventory,
    blob_name: str,
    source: FixedVhdSource,
    metadata: dict[str, str],
    replace: bool,
    threads: int | None,
) -> None:
    """Send the source to tier-0 unless it is there; Azure errors become one line."""
    blob = _tier0_blob(
        settings, plan.tier0.storage_account, plan.tier0.container, blob_name
    )
    where = f"{plan.tier0.storage_account}/{plan.tier0.container}/{blob_name}"
    try:
        with _cleanup_on_sigterm():
            _send_unless_there(
                blob, source, where, metadata, replace, threads, settings
            )
    except UploadError as exc:
        fail(str(exc))
    except AzureError as exc:
        fail(f"tier-0 ({where}) cannot be reached or refused: {redact_text(str(exc))}")


def _send_unless_there(
    blob: BlobClient,
    source: FixedVhdSource,
    where: str,
    metadata: dict[str, str],
    replace: bool,
    threads: int | None,
    settings: Settings,
) -> None:
    """Upload the file unless the blob is already a finished upload of it.

    The same file stamped differently (OS type, generation...) is only restamped,
    and only with --replace.
    """
    stamps = _finished_stamps(blob)
    existing = stamps.get(META_MD5)
    if existing is not None:
        if existing == base64.b64encode(fixed_vhd_md5(source)).decode():
            changed = {k: v for k, v in metadata.items() if stamps.get(k) != v}
            changed.pop("imagerelay_source_file", None)
            if not changed:
                console.print(f"{where} already holds this file (same MD5); not sent")
                return
            if not replace:
                was = ", ".join(f"{k}={stamps.get(k)}" for k in changed)
                fail(
                    f"{where} already holds this file, stamped {was}; pass --replace "
                    "to restamp it, or upload under a new --release"
                )
            blob.set_blob_metadata({**stamps, **metadata})
            console.print(f"{where} already holds this file; stamps updated")
            return
        if not replace:
            fail(
                f"{where} already holds a finished upload of another file (MD5 "
                f"{existing}); upload under a new --release, or pass --replace"
            )
    result = _upload_with_progress(
        source, blob, metadata, threads or settings.upload_threads
    )
    console.print(
        f"uploaded {where}: {result.size / 2**20:,.0f} MiB in "
        f"{result.seconds:.1f} s ({result.mib_per_second:.0f} MiB/s), "
        f"{result.bytes_sent / 2**20:,.1f} MiB sent (zero ranges skipped), "
        f"MD5 {result.md5}"
    )


@contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception, so a killed upload deletes its partial blob."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tier0_blob(
    settings: Settings, account: str, container: str, name: str
) -> BlobClient:
    if settings.tier0_connection_string is not None:
        return BlobClient.from_connection_string(
            settings.tier0_connection_string.get_secret_value(), container, name
        )
    url = settings.blob_endpoint.format(account=account)
    return BlobClient(url, container, name, credential=DefaultAzureCredential())


def _finished_stamps(blob: BlobClient) -> dict[str, str]:
    """The metadata of the upload at this blob; empty when there is no blob."""
    try:
        props = blob.get_blob_properties()
    except ResourceNotFoundError:
        return {}
    return dict(props.metadata or {})


def _upload_with_progress(
    source: FixedVhdSource, blob: BlobClient, metadata: dict[str, str], threads: int
) -> UploadResult:
    columns = (
        "{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        total = source.virtual_size + FOOTER_SIZE
        task = bar.add_task(f"uploading {source.name}", total=total)
        return upload_source(
            source,
            blob,
            metadata=metadata,
            threads=threads,
            progress=lambda done: bar.update(task, completed=done),
        )


def _start_release(
    settings: Settings,
    release: str,
    image: str,
    os_type: str,
    generation: str,
    vhd: str,
) -> None:
    """Start the release deployment and print the flow run's UI address."""
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.settings import PREFECT_UI_URL

    coroutine = arun_deployment(
        RELEASE_DEPLOYMENT,
        parameters={
            "release_id": release,
            "image_name": image,
            "os_type": os_type,
            "hyper_v_generation": generation,
            "vhd": vhd,
        },
        timeout=0,
    )
    flow_run = asyncio.run(coroutine)
    ui = settings.ui_url or PREFECT_UI_URL.value()
    console.print(f"release {release} started: {ui}/runs/flow-run/{flow_run.id}")
