"""From a disk file to a finished, stamped upload in tier-0, for the CLI and flow."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobClient

from imagerelay.convert import converted_to_raw, needs_qemu
from imagerelay.disk_format import PartitionStyle, check_upload, read_disk
from imagerelay.extents import FixedVhdSource, fixed_vhd_md5, open_disk, open_source
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
from imagerelay.upload import (
    META_MD5,
    UploadError,
    UploadResult,
    begin_upload,
    upload_source,
)
from imagerelay.vhd import FOOTER_SIZE, VhdError

Say = Callable[[str], None]
Progress = Callable[[int, int], None]


class IntakeError(ValueError):
    """The file or the request cannot be uploaded; the message names the fix."""


@dataclass(frozen=True)
class IntakeRequest:
    """What `imagerelay upload` and the upload flow are asked to do."""

    file: Path
    release: str
    os_type: OsType
    hyper_v_generation: HyperVGeneration | None = None
    image_name: str | None = None
    resize: bool = False
    replace: bool = False
    threads: int | None = None
    inventory: Path | None = None


@dataclass(frozen=True)
class IntakeOutcome:
    """Where the file landed and how it is stamped; result is None if not sent."""

    blob_name: str
    image_name: str
    hyper_v_generation: HyperVGeneration
    result: UploadResult | None


def generation_for(
    chosen: HyperVGeneration | None, style: PartitionStyle, say: Say
) -> HyperVGeneration:
    """The Hyper-V generation to stamp: as chosen, else what the partition table says.

    An MBR disk boots with BIOS (V1); GPT needs UEFI (V2). A choice that contradicts
    the table is kept, with a warning, since hybrid layouts exist.
    """
    suggested: HyperVGeneration = "V1" if style is PartitionStyle.MBR else "V2"
    if chosen is None:
        if style in (PartitionStyle.MBR, PartitionStyle.GPT):
            say(f"Hyper-V generation {suggested} ({style} partition table)")
        else:
            say(
                "warning: no MBR or GPT partition table was found, and an OS disk "
                "without one rarely boots; check the export. Hyper-V generation "
                f"{suggested} assumed: pass --hyper-v-generation V1 for BIOS boot"
            )
        return suggested
    if style in (PartitionStyle.MBR, PartitionStyle.GPT) and chosen != suggested:
        say(
            f"warning: the disk has an {style} partition table, which usually boots "
            f"as {suggested}, not {chosen}"
        )
    return chosen


def take_in(
    request: IntakeRequest, settings: Settings, say: Say, progress: Progress
) -> IntakeOutcome:
    """Check, convert if needed, and upload the file unless tier-0 already holds it.

    Args:
        say: receives one line per decision (generation, resume, skip).
        progress: receives (bytes done, blob size) as the upload advances.
    """
    image = request.image_name
    if image is None:
        image = f"golden-{request.os_type.lower()}"
    try:
        check_release(request.release)
        plan = load_inventory(request.inventory or settings.inventory)
        for region in {t.region for t in plan.enabled_targets}:
            managed_image_name(request.release, check_image_name(image), region)
        disk = read_disk(request.file)
        blob_name = upload_blob_name(request.release, request.file.name)
        with ExitStack() as scratch:
            if needs_qemu(disk):
                check_upload(disk)  # its size, before a long conversion
                say(f"converting {request.file.name} with qemu-img")
                raw = scratch.enter_context(converted_to_raw(disk))
                opened, source = open_source(raw, resize=request.resize)
            else:
                opened, source = open_disk(disk, resize=request.resize)
            generation = generation_for(
                request.hyper_v_generation, opened.partition_style, say
            )
            metadata = {
                "imagerelay_release": request.release,
                "imagerelay_os_type": request.os_type,
                "imagerelay_hyper_v_generation": generation,
                "imagerelay_image_name": image,
                "imagerelay_source_file": request.file.name,
            }
            result = _send_unless_there(
                settings, plan, blob_name, source, metadata, request, say, progress
            )
    except (NamingError, InventoryError, VhdError) as exc:
        raise IntakeError(str(exc)) from None
    return IntakeOutcome(blob_name, image, generation, result)


def tier0_blob(
    settings: Settings, account: str, container: str, name: str
) -> BlobClient:
    """The tier-0 blob client: connection string if set, else Entra ID."""
    if settings.tier0_connection_string is not None:
        return BlobClient.from_connection_string(
            settings.tier0_connection_string.get_secret_value(), container, name
        )
    url = settings.blob_endpoint.format(account=account)
    return BlobClient(url, container, name, credential=DefaultAzureCredential())


def _send_unless_there(
    settings: Settings,
    plan: Inventory,
    blob_name: str,
    source: FixedVhdSource,
    metadata: dict[str, str],
    request: IntakeRequest,
    say: Say,
    progress: Progress,
) -> UploadResult | None:
    """Upload the file unless the blob is already a finished upload of it.

    The same file stamped differently (OS type, generation...) is only restamped,
    and only with replace. Azure errors become one line without secrets.
    """
    tier0 = plan.tier0
    blob = tier0_blob(settings, tier0.storage_account, tier0.container, blob_name)
    where = f"{tier0.storage_account}/{tier0.container}/{blob_name}"
    try:
        stamps = _finished_stamps(blob)
        existing = stamps.get(META_MD5)
        if existing is not None:
            if existing == base64.b64encode(fixed_vhd_md5(source)).decode():
                _restamp(blob, where, stamps, metadata, request.replace, say)
                return None
            if not request.replace:
                raise IntakeError(
                    f"{where} already holds a finished upload of another file (MD5 "
                    f"{existing}); upload under a new --release, or pass --replace"
                )
        start = begin_upload(source, blob)
        if start.resumed or start.note != "new upload":
            say(start.note)
        total = source.virtual_size + FOOTER_SIZE
        return upload_source(
            source,
            blob,
            metadata=metadata,
            threads=request.threads or settings.upload_threads,
            progress=lambda done: progress(done, total),
            start=start,
        )
    except UploadError as exc:
        raise IntakeError(str(exc)) from None
    except AzureError as exc:
        raise IntakeError(
            f"tier-0 ({where}) cannot be reached or refused: {redact_text(str(exc))}"
        ) from None


def _restamp(
    blob: BlobClient,
    where: str,
    stamps: dict[str, str],
    metadata: dict[str, str],
    replace: bool,
    say: Say,
) -> None:
    """Leave a finished upload of the same file alone, or restamp it with replace."""
    changed = {k: v for k, v in metadata.items() if stamps.get(k) != v}
    changed.pop("imagerelay_source_file", None)
    if not changed:
        say(f"{where} already holds this file (same MD5); not sent")
        return
    if not replace:
        was = ", ".join(f"{k}={stamps.get(k)}" for k in changed)
        raise IntakeError(
            f"{where} already holds this file, stamped {was}; pass --replace "
            "to restamp it, or upload under a new --release"
        )
    blob.set_blob_metadata({**stamps, **metadata})
    say(f"{where} already holds this file; stamps updated")


def _finished_stamps(blob: BlobClient) -> dict[str, str]:
    """The metadata of the upload at this blob; empty when there is no blob."""
    try:
        props = blob.get_blob_properties()
    except ResourceNotFoundError:
        return {}
    return dict(props.metadata or {})
