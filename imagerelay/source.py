"""Find and verify the golden VHD in tier-0 before anything is copied."""

from __future__ import annotations

import base64
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import ContainerClient

from imagerelay.errors import PermanentError
from imagerelay.ledger import LedgerEntry
from imagerelay.models import HyperVGeneration, OsType, SourceVhd, TargetState
from imagerelay.redact import redact_url
from imagerelay.upload import META_MD5
from imagerelay.vhd import FOOTER_SIZE, VhdError, check_for_azure, parse_footer

UPLOAD_PREFIX = "uploads/"


class SourceError(PermanentError, ValueError):
    """The release's source VHD cannot be used; the message says what to do."""


class NothingToRelease(SourceError):
    """No unreleased upload exists, so a scheduled release has nothing to do."""


def check_blob_path(vhd: str) -> str:
    """Refuse a URL where a blob path inside the tier-0 container is expected."""
    if "://" in vhd or "?" in vhd:
        raise SourceError(
            f"vhd must be a blob path inside the tier-0 container, such as "
            f"uploads/2026.12/golden.vhd, not a URL ({redact_url(vhd)}); never pass "
            "a SAS: imagerelay signs its own"
        )
    return vhd.lstrip("/")


def released_md5s(entries: list[LedgerEntry]) -> dict[str, str]:
    """MD5 -> release id of every VHD that reached at least one target.

    A VHD counts as released once one target holds its image; its failed targets
    are retried by re-running that release, not by the schedule.
    """
    return {
        entry.source_md5: entry.release
        for entry in entries
        if entry.source_md5 and entry.state is TargetState.DONE
    }


def upload_md5(blob: BlobProperties) -> str | None:
    """The base64 MD5 the upload stamped: Content-MD5, else imagerelay_md5."""
    metadata = blob.metadata or {}
    if META_MD5 not in metadata:
        return None
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    return base64.b64encode(md5).decode() if md5 else metadata[META_MD5]


def _created(blob: BlobProperties) -> datetime:
    """When the upload was made: a later metadata change does not make it newer."""
    return blob.creation_time or blob.last_modified


async def newest_unreleased_upload(
    container: ContainerClient,
    os_type: OsType,
    image_name: str,
    released: dict[str, str],
) -> str:
    """The newest finished upload of this OS type and image, if not released yet.

    Uploads stamped with another image name, and unfinished uploads (no MD5 stamp),
    are passed over. When the newest upload was already released, older ones are
    superseded by it and there is nothing to release.
    """
    newest: BlobProperties | None = None
    async for blob in container.list_blobs(
        name_starts_with=UPLOAD_PREFIX, include=["metadata"]
    ):
        metadata = blob.metadata or {}
        stamped_image = metadata.get("imagerelay_image_name", image_name)
        if (
            metadata.get("imagerelay_os_type", "").lower() != os_type.lower()
            or stamped_image != image_name
            or upload_md5(blob) is None
        ):
            continue
        if newest is None or _created(blob) > _created(newest):
            newest = blob
    if newest is None:
        raise NothingToRelease(
            f"no finished {os_type} upload of {image_name} is in "
            f"{container.container_name}/{UPLOAD_PREFIX}; run `imagerelay upload "
            f"FILE --os-type {os_type.lower()} --image-name {image_name}` first"
        )
    md5 = upload_md5(newest)
    if md5 in released:
        raise NothingToRelease(
            f"nothing to release: the newest {os_type} upload of {image_name}, "
            f"{newest.name}, was released as {released[md5]}; to retry its failed "
            f"targets run release {released[md5]} again"
        )
    return str(newest.name)


async def verify_source(
    container: ContainerClient,
    blob_name: str,
    os_type: OsType,
    hyper_v_generation: HyperVGeneration | None,
) -> SourceVhd:
    """Check the blob is a complete fixed VHD page blob Azure will accept."""
    blob = container.get_blob_client(blob_name)
    where = f"{container.container_name}/{blob_name}"
    try:
        props = await blob.get_blob_properties()
    except ResourceNotFoundError:
        uploads = [
            b async for b in container.list_blob_names(name_starts_with=UPLOAD_PREFIX)
        ]
        known = ", ".join(uploads[-5:]) or "none yet"
        raise SourceError(
            f"{where} does not exist in tier-0; pass the blob path that "
            f"`imagerelay upload` printed (latest uploads: {known})"
        ) from None
    _check_stamps(where, props.metadata or {}, os_type, hyper_v_generation)
    if props.blob_type != "PageBlob":
        raise SourceError(
            f"{where} is a {props.blob_type.value}; Azure makes images only from page "
            "blobs: upload it with `imagerelay upload`"
        )
    if META_MD5 not in (props.metadata or {}):
        raise SourceError(
            f"{where} has no upload checksum: its upload did not finish; run "
            "`imagerelay upload` again"
        )
    if props.size < FOOTER_SIZE:
        raise SourceError(f"{where} is {props.size} bytes, too small to be a VHD")
    stream = await blob.download_blob(
        offset=props.size - FOOTER_SIZE, length=FOOTER_SIZE
    )
    try:
        footer = parse_footer(await stream.readall())
    except VhdError as exc:
        raise SourceError(f"{where}: {exc}") from None
    try:
        check_for_azure(footer, props.size, where)
    except VhdError as exc:
        raise SourceError(str(exc)) from None
    md5 = props.content_settings.content_md5
    return SourceVhd(
        account=str(container.account_name),
        container=container.container_name,
        blob=blob_name,
        size=props.size,
        etag=str(props.etag).strip('"'),
        release=props.metadata.get("imagerelay_release"),
        hyper_v_generation=_stamped_generation(props.metadata),
        md5=base64.b64encode(md5).decode()
        if md5
        else props.metadata.get("imagerelay_md5"),
    )


def _check_stamps(
    where: str,
    metadata: dict[str, str],
    os_type: OsType,
    hyper_v_generation: HyperVGeneration | None,
) -> None:
    """Refuse a release whose OS type or generation contradicts the upload's stamps."""
    stamped = {
        "OS type": (metadata.get("imagerelay_os_type"), os_type),
        "Hyper-V generation": (
            metadata.get("imagerelay_hyper_v_generation"),
            hyper_v_generation,
        ),
    }
    for what, (uploaded, asked) in stamped.items():
        if uploaded and asked and uploaded.lower() != asked.lower():
            raise SourceError(
                f"{where} was uploaded as {what} {uploaded}, but the release asks for "
                f"{asked}; run the release with {what} {uploaded}, or upload the "
                "right VHD"
            )


def _stamped_generation(metadata: dict[str, str]) -> HyperVGeneration | None:
    stamp = metadata.get("imagerelay_hyper_v_generation", "").upper()
    if stamp == "V1":
        return "V1"
    return "V2" if stamp == "V2" else None
