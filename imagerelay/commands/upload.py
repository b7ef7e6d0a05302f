"""`imagerelay upload`: send a golden VHD to tier-0 and optionally start its release."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Annotated, Literal

import typer
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobClient
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from imagerelay.commands import make_console
from imagerelay.inventory import InventoryError, load_inventory
from imagerelay.naming import NamingError, check_image_name, upload_blob_name
from imagerelay.settings import Settings, get_settings
from imagerelay.upload import UploadError, upload_vhd
from imagerelay.vhd import VhdError, inspect_vhd

RELEASE_DEPLOYMENT = "release/golden"
console = make_console(stderr=True)


def upload(
    file: Annotated[Path, typer.Argument(help="Fixed VHD to upload.")],
    release: Annotated[str, typer.Option(help="Release id, e.g. 2026.12.")],
    os_type: Annotated[
        Literal["linux", "windows"], typer.Option(help="Guest OS of the image.")
    ],
    hyper_v_generation: Annotated[
        Literal["V1", "V2"], typer.Option(help="V1 (BIOS) or V2 (UEFI).")
    ] = "V2",
    image_name: Annotated[
        str | None,
        typer.Option(help="Base name of the images; golden-<os-type> if unset."),
    ] = None,
    run: Annotated[
        bool, typer.Option("--run", help="Start the release deployment afterwards.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="Parallel page writes (IMAGERELAY_UPLOAD_THREADS)."),
    ] = None,
    inventory: Annotated[
        Path | None, typer.Option(help="Inventory file (IMAGERELAY_INVENTORY).")
    ] = None,
) -> None:
    """Check a VHD, upload it to tier-0 as a page blob and stamp its metadata."""
    settings = get_settings()
    os_name = "Linux" if os_type == "linux" else "Windows"
    image = image_name or f"golden-{os_type}"
    try:
        check_image_name(image)
        plan = load_inventory(inventory or settings.inventory)
        blob_name = upload_blob_name(release, file.name)
        inspect_vhd(file)
    except (NamingError, InventoryError, VhdError) as exc:
        _fail(str(exc))

    blob = _tier0_blob(
        settings, plan.tier0.storage_account, plan.tier0.container, blob_name
    )
    where = f"{plan.tier0.storage_account}/{plan.tier0.container}/{blob_name}"
    if _already_uploaded(blob, file):
        console.print(
            f"{where} already holds this file (same MD5); not sending it again"
        )
    else:
        metadata = {
            "imagerelay_release": release,
            "imagerelay_os_type": os_name,
            "imagerelay_hyper_v_generation": hyper_v_generation,
            "imagerelay_image_name": image,
            "imagerelay_source_file": file.name,
        }
        try:
            result = _upload_with_progress(
                file, blob, metadata, threads or settings.upload_threads
            )
        except (UploadError, VhdError) as exc:
            _fail(str(exc))
        console.print(
            f"uploaded {where}: {result.size / 2**20:,.0f} MiB in "
            f"{result.seconds:.1f} s ({result.mib_per_second:.0f} MiB/s), "
            f"{result.bytes_sent / 2**20:,.1f} MiB sent (zero ranges skipped), "
            f"MD5 {result.md5}"
        )
    print(blob_name)

    if run:
        _start_release(settings, release, image, os_name, hyper_v_generation, blob_name)


def _tier0_blob(
    settings: Settings, account: str, container: str, name: str
) -> BlobClient:
    if settings.tier0_connection_string is not None:
        return BlobClient.from_connection_string(
            settings.tier0_connection_string.get_secret_value(), container, name
        )
    url = settings.blob_endpoint.format(account=account)
    return BlobClient(url, container, name, credential=DefaultAzureCredential())


def _already_uploaded(blob: BlobClient, file: Path) -> bool:
    """True when the blob is a finished upload of exactly this file."""
    try:
        props = blob.get_blob_properties()
    except ResourceNotFoundError:
        return False
    stamped = props.metadata.get("imagerelay_md5")
    if stamped is None or props.size != file.stat().st_size:
        return False
    digest = hashlib.md5()
    with file.open("rb") as handle:
        while chunk := handle.read(8 * 2**20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode() == stamped


def _upload_with_progress(
    file: Path, blob: BlobClient, metadata: dict[str, str], threads: int
):
    columns = (
        "{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"uploading {file.name}", total=file.stat().st_size)
        return upload_vhd(
            file,
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


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)
