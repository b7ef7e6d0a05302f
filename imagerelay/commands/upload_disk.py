"""`imagerelay upload --from-disk`: a managed disk becomes an upload in tier-0."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path

import typer
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from imagerelay.clients import arm_credential, blob_service, compute_client
from imagerelay.commands import fail, make_console
from imagerelay.disk_access import DiskAccessRefused
from imagerelay.disk_source import (
    META_SOURCE_DISK,
    DiskId,
    DiskSourceError,
    check_disk,
    copy_disk,
    parse_disk_id,
    read_disk,
)
from imagerelay.inventory import Inventory, InventoryError, load_inventory
from imagerelay.models import HyperVGeneration, OsType
from imagerelay.naming import (
    NamingError,
    check_image_name,
    check_release,
    managed_image_name,
    upload_blob_name,
)
from imagerelay.redact import redact_text
from imagerelay.settings import Settings

console = make_console(stderr=True)


@dataclass(frozen=True)
class DiskRelease:
    """What the release of an uploaded disk needs to know."""

    blob_name: str
    os_type: OsType
    hyper_v_generation: HyperVGeneration
    image_name: str


def upload_disk(
    settings: Settings,
    disk: str,
    *,
    file: Path | None,
    release: str,
    os_type: str | None,
    hyper_v_generation: str | None,
    image_name: str | None,
    replace: bool,
    inventory: Path | None,
) -> DiskRelease:
    """Copy the disk into tier-0 like an upload, print its blob name, or exit 2."""
    if file is not None:
        fail(f"give either FILE ({file}) or --from-disk, not both")
    try:
        check_release(release)
        disk_id = parse_disk_id(disk)
        plan = load_inventory(inventory or settings.inventory)
        chosen_os: OsType | None = None
        if os_type is not None:
            chosen_os = "Windows" if os_type.lower() == "windows" else "Linux"
        generation: HyperVGeneration | None = None
        if hyper_v_generation is not None:
            generation = "V2" if hyper_v_generation.upper() == "V2" else "V1"
        result = asyncio.run(
            _upload(
                settings,
                plan,
                disk_id,
                release,
                chosen_os,
                generation,
                image_name,
                replace,
            )
        )
    except (DiskSourceError, DiskAccessRefused, NamingError, InventoryError) as exc:
        fail(str(exc))
    except AzureError as exc:
        fail(f"Azure refused or could not be reached: {redact_text(str(exc))}")
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        console.print("interrupted: disk access revoked, partial copy deleted")
        code = 130 if isinstance(exc, KeyboardInterrupt) else 128 + signal.SIGTERM
        raise typer.Exit(code) from None
    print(result.blob_name)
    return result


async def _upload(
    settings: Settings,
    plan: Inventory,
    disk_id: DiskId,
    release: str,
    os_type: OsType | None,
    generation: HyperVGeneration | None,
    image_name: str | None,
    replace: bool,
) -> DiskRelease:
    async with (
        arm_credential() as credential,
        compute_client(settings, credential, disk_id.subscription_id) as compute,
        _tier0(settings, plan, credential) as service,
    ):
        container = service.get_container_client(plan.tier0.container)
        disk = await read_disk(compute, disk_id)
        source = check_disk(disk, disk_id, os_type, generation)
        default = f"golden-{source.os_type.lower()}"
        image = check_image_name(default if image_name is None else image_name)
        for region in {t.region for t in plan.enabled_targets}:
            managed_image_name(release, image, region)
        blob_name = upload_blob_name(release, disk_id.name)
        where = f"{plan.tier0.storage_account}/{plan.tier0.container}/{blob_name}"
        await _refuse_existing(container, blob_name, where, replace)

        console.print(
            f"disk {disk_id.name}: {source.size // 2**20:,} MiB, {source.os_type}, "
            f"Hyper-V {source.hyper_v_generation}; granting read access and copying "
            "server-side"
        )
        stamps = {
            "imagerelay_release": release,
            "imagerelay_os_type": source.os_type,
            "imagerelay_hyper_v_generation": source.hyper_v_generation,
            "imagerelay_image_name": image,
            META_SOURCE_DISK: disk_id.resource_id,
        }
        copied = await copy_disk(
            compute,
            source,
            container,
            blob_name,
            stamps,
            poll_seconds=settings.copy_poll_seconds,
            timeout_seconds=settings.copy_timeout_minutes * 60,
        )
        console.print(
            f"copied to {where}: {copied.size / 2**20:,.0f} MiB in "
            f"{copied.seconds:.1f} s; MD5 {copied.md5} (computed by reading the "
            f"tier-0 copy back, {copied.bytes_read / 2**20:,.1f} MiB of written "
            "pages); disk access revoked"
        )
        return DiskRelease(blob_name, source.os_type, source.hyper_v_generation, image)


def _tier0(
    settings: Settings, plan: Inventory, credential: DefaultAzureCredential
) -> BlobServiceClient:
    if settings.tier0_connection_string is not None:
        return BlobServiceClient.from_connection_string(
            settings.tier0_connection_string.get_secret_value()
        )
    return blob_service(settings, plan.tier0.storage_account, credential)


async def _refuse_existing(
    container: ContainerClient, blob_name: str, where: str, replace: bool
) -> None:
    """Never overwrite an upload silently: the disk's content is not known yet."""
    try:
        props = await container.get_blob_client(blob_name).get_blob_properties()
    except ResourceNotFoundError:
        return
    if not replace:
        disk = (props.metadata or {}).get(META_SOURCE_DISK, "a file")
        raise DiskSourceError(
            f"{where} already exists (from {disk}); upload under a new --release, or "
            "pass --replace to copy the disk over it"
        )
