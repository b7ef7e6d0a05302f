"""Copy a managed disk into tier-0 as an upload: grant, copy, check, revoke."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import signal
import time
import uuid
from dataclasses import dataclass

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import Disk
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobClient, ContainerClient

from imagerelay.copy import CopyFailed, copy_blob, copy_metadata
from imagerelay.disk_access import disk_access
from imagerelay.errors import PermanentError
from imagerelay.extents import FixedVhdDigest
from imagerelay.models import HyperVGeneration, OsType
from imagerelay.redact import redact_text
from imagerelay.source import SourceError, verify_source
from imagerelay.upload import META_MD5, META_SIZE
from imagerelay.vhd import (
    FOOTER_SIZE,
    MIB,
    VhdError,
    build_footer,
    check_for_azure,
    parse_footer,
)

logger = logging.getLogger(__name__)

DISK_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Compute/disks/(?P<name>[A-Za-z0-9_-]{1,80})$",
    re.IGNORECASE,
)
META_SOURCE_DISK = "imagerelay_source_disk"
READ_CHUNK = 4 * MIB
ZERO_STEP = 256 * MIB


class DiskSourceError(PermanentError, ValueError):
    """The disk cannot be used as a source; the message names the fix."""


@dataclass(frozen=True)
class DiskId:
    """A managed disk's place in Azure."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Compute/disks/{self.name}"
        )


@dataclass(frozen=True)
class SourceDisk:
    """A disk that passed the checks, with the stamps its upload gets."""

    id: DiskId
    size: int
    os_type: OsType
    hyper_v_generation: HyperVGeneration


@dataclass(frozen=True)
class DiskUpload:
    """What copying a disk into tier-0 did."""

    blob_name: str
    size: int
    md5: str
    seconds: float
    bytes_read: int


def parse_disk_id(text: str) -> DiskId:
    """The disk named by an ARM resource id, or an error showing the expected form."""
    match = DISK_ID.match(text.strip().rstrip("/"))
    if match is None:
        raise DiskSourceError(
            f"{text!r} is not a managed disk resource id; expected /subscriptions/"
            "<subscription>/resourceGroups/<group>/providers/Microsoft.Compute/disks/"
            "<disk>, as `az disk show -g <group> -n <disk> --query id -o tsv` prints"
        )
    try:
        uuid.UUID(match["sub"])
    except ValueError:
        raise DiskSourceError(
            f"the subscription {match['sub']!r} in the disk id is not a subscription "
            "id (a GUID); copy the id from `az disk show -g <group> -n <disk> --query "
            "id -o tsv`"
        ) from None
    return DiskId(match["sub"], match["rg"], match["name"])


def check_disk(
    disk: Disk,
    disk_id: DiskId,
    os_type: OsType | None,
    generation: HyperVGeneration | None,
) -> SourceDisk:
    """Refuse a disk Azure cannot share or make an image of; else its stamps."""
    name = disk_id.resource_id
    state = _text(disk.disk_state)
    if disk.managed_by:
        raise DiskSourceError(
            f"disk {disk_id.name} is attached to VM {disk.managed_by}; Azure grants "
            "access only to unattached disks: deallocate the VM and detach the "
            "disk, or snapshot it and create a disk from the snapshot"
        )
    if state.lower() != "unattached":
        raise DiskSourceError(
            f"disk {disk_id.name} is {state}, not Unattached: someone may "
            "be exporting it; wait, or end that access with `az disk revoke-access "
            f"--ids {name}`"
        )
    disk_os = _text(disk.os_type) or None
    if disk_os is None and os_type is None:
        raise DiskSourceError(
            f"disk {disk_id.name} has no OS type, so it is a data disk; pass "
            "--os-type if it holds an OS, or set it with `az disk update --ids "
            f"{name} --os-type Linux|Windows`"
        )
    if (
        disk_os is not None
        and os_type is not None
        and disk_os.lower() != os_type.lower()
    ):
        raise DiskSourceError(
            f"disk {disk_id.name} is a {disk_os} disk, not {os_type}; drop --os-type "
            "or pick the right disk"
        )
    size = int(disk.disk_size_bytes or (disk.disk_size_gb or 0) * 1024**3)
    footer = parse_footer(build_footer(size))
    try:
        check_for_azure(footer, size + FOOTER_SIZE, disk_id.name)
    except VhdError as exc:
        reason = str(exc).split(";")[0]
        raise DiskSourceError(
            f"disk {disk_id.name}: {reason}; an image needs an OS disk of 20 MiB to "
            "2 TiB: copy the OS to a disk of that size and use that one"
        ) from None
    chosen_os = os_type or disk_os
    stamped = (generation or _text(disk.hyper_v_generation) or "V1").upper()
    return SourceDisk(
        id=disk_id,
        size=size,
        os_type="Windows" if str(chosen_os).lower() == "windows" else "Linux",
        hyper_v_generation="V2" if stamped == "V2" else "V1",
    )


def _text(value: object) -> str:
    """An SDK enum or string as Azure spells it; empty for None."""
    return "" if value is None else str(getattr(value, "value", value))


async def read_disk(compute: ComputeManagementClient, disk_id: DiskId) -> Disk:
    """The disk from Azure Resource Manager, or an error naming what to check."""
    try:
        return await compute.disks.get(disk_id.resource_group, disk_id.name)
    except ResourceNotFoundError as exc:
        code = getattr(getattr(exc, "error", None), "code", None) or "NotFound"
        if code == "SubscriptionNotFound":
            raise DiskSourceError(
                f"subscription {disk_id.subscription_id} was not found "
                f"({code}): it does not exist or your identity cannot see it; check "
                "`az account list -o table` and the identity's role assignments"
            ) from None
        raise DiskSourceError(
            f"disk {disk_id.name} was not found in resource group "
            f"{disk_id.resource_group} of subscription {disk_id.subscription_id} "
            f"({code}); check the id with `az disk list -g {disk_id.resource_group} "
            "-o table`"
        ) from None


async def blob_md5(blob: BlobClient, size: int) -> tuple[bytes, bytes, int]:
    """MD5 and footer of a fixed VHD page blob, reading only its written pages.

    Pages Azure lists as unwritten read as zeros and are hashed as zeros locally.
    """
    virtual = size - FOOTER_SIZE
    listed = [
        (int(r.start or 0), min(int(r.end or 0) + 1, virtual))
        async for r in blob.list_page_ranges()
        if not r.cleared
    ]
    ranges = sorted((start, end) for start, end in listed if start < end)
    digest = FixedVhdDigest()
    bytes_read = 0
    position = 0
    for start, end in ranges:
        start = max(start, position)
        await _hash_zeros(digest, start)
        for offset in range(start, end, READ_CHUNK):
            length = min(READ_CHUNK, end - offset)
            stream = await blob.download_blob(offset=offset, length=length)
            digest.update(offset, await stream.readall())
            bytes_read += length
        position = max(position, end)
    await _hash_zeros(digest, virtual)
    stream = await blob.download_blob(offset=virtual, length=FOOTER_SIZE)
    footer = await stream.readall()
    return digest.finish(virtual, footer), footer, bytes_read + FOOTER_SIZE


async def _hash_zeros(digest: FixedVhdDigest, until: int) -> None:
    """Hash zeros up to `until` in steps, so Ctrl-C and SIGTERM are heard between."""
    # Limitation: MD5 cannot skip zeros: 2 TiB of them take one to three hours here.
    while digest.offset < until:
        digest.update(min(until, digest.offset + ZERO_STEP), b"")
        await asyncio.sleep(0)


async def copy_disk(
    compute: ComputeManagementClient,
    source: SourceDisk,
    container: ContainerClient,
    blob_name: str,
    stamps: dict[str, str],
    *,
    poll_seconds: float,
    timeout_seconds: float,
) -> DiskUpload:
    """Copy the disk into tier-0, check and stamp it; nothing is left on failure."""
    started = time.monotonic()
    blob = container.get_blob_client(blob_name)
    where = f"{container.container_name}/{blob_name}"
    size = source.size + FOOTER_SIZE
    access_seconds = int(timeout_seconds) + 600
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    copying = False  # an earlier upload (--replace) is only lost once the copy starts
    try:
        async with disk_access(compute, source.id, access_seconds) as sas_url:
            async with BlobClient.from_blob_url(sas_url) as disk_blob:
                props = await disk_blob.get_blob_properties()
            if props.size != size:
                raise DiskSourceError(
                    f"disk {source.id.name} exports {props.size} bytes where its size "
                    f"{source.size} plus a 512-byte footer was expected"
                )
            metadata = copy_metadata(stamps["imagerelay_release"], sas_url,
                                     str(props.etag), size, None)  # fmt: skip
            copying = True
            await copy_blob(
                sas_url,
                blob,
                metadata,
                size=size,
                poll_seconds=poll_seconds,
                timeout_seconds=timeout_seconds,
            )
        md5, footer, bytes_read = await blob_md5(blob, size)
        check_for_azure(parse_footer(footer), size, where)
        md5_b64 = base64.b64encode(md5).decode()
        await blob.set_http_headers(
            ContentSettings(
                content_type="application/octet-stream", content_md5=bytearray(md5)
            )
        )
        await blob.set_blob_metadata(
            {**metadata, **stamps, META_MD5: md5_b64, META_SIZE: str(size)}
        )
        await verify_source(
            container, blob_name, source.os_type, source.hyper_v_generation
        )
    except BaseException as exc:
        if copying:
            await _delete_partial(blob, where)
        if isinstance(exc, CopyFailed):
            raise DiskSourceError(
                f"the copy of disk {source.id.name} failed: {redact_text(str(exc))}"
            ) from None
        if isinstance(exc, VhdError | SourceError):
            raise DiskSourceError(
                f"the copy of disk {source.id.name} is not a VHD Azure accepts: {exc}"
            ) from None
        raise
    finally:
        if task is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)
    seconds = time.monotonic() - started
    logger.info(
        "Copied disk %s to %s: %d MiB in %.1f s, %.1f MiB read back, MD5 %s",
        source.id.name,
        where,
        size // MIB,
        seconds,
        bytes_read / MIB,
        md5_b64,
    )
    return DiskUpload(blob_name, size, md5_b64, seconds, bytes_read)


async def _delete_partial(blob: BlobClient, where: str) -> None:
    """Abort and delete what the copy wrote, so tier-0 holds no half upload."""
    try:
        props = await blob.get_blob_properties()
        if props.copy.status == "pending":
            await blob.abort_copy(props)
        await blob.delete_blob()
    except ResourceNotFoundError:
        return
    except AzureError as exc:
        logger.warning(
            "Could not delete %s: %s; delete it by hand", where, redact_text(str(exc))
        )
        return
    logger.info("Deleted partial copy %s", where)
