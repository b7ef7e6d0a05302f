"""Stream a disk into a page blob as a fixed VHD, skipping zeros; prove it arrived."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContentSettings

from imagerelay.extents import FixedVhdDigest, FixedVhdSource, open_source
from imagerelay.page_sender import PageSender
from imagerelay.redact import redact_text
from imagerelay.resume import (
    META_MD5,
    UploadStart,
    WrittenPages,
    source_identity,
    start_upload,
)
from imagerelay.vhd import FOOTER_SIZE, MIB, VhdError

logger = logging.getLogger(__name__)

MAX_PAGE_WRITE = 4 * MIB
META_SIZE = "imagerelay_size"


class UploadError(RuntimeError):
    """The upload failed; the message says whether the partial blob is kept."""


@dataclass(frozen=True)
class UploadResult:
    """What one upload sent, and how fast."""

    blob_name: str
    size: int
    bytes_sent: int
    md5: str
    seconds: float
    mib_per_second: float
    bytes_kept: int = 0
    resumed: bool = False


def _check_footer(blob: BlobClient, size: int, footer: bytes) -> None:
    """Check the blob ends with the footer that was sent, before it is stamped."""
    downloader = blob.download_blob(offset=size - FOOTER_SIZE, length=FOOTER_SIZE)
    if downloader.readall() != footer:
        raise UploadError("the blob's last 512 bytes differ from the file's footer")


def _check_stamps(blob: BlobClient, size: int, md5: bytes) -> None:
    """Check the blob's size and Content-MD5 read back as the file's."""
    properties = blob.get_blob_properties()
    if properties.size != size:
        raise UploadError(f"the blob is {properties.size} bytes, the file {size}")
    if bytes(properties.content_settings.content_md5 or b"") != md5:
        raise UploadError("the blob's Content-MD5 differs from the file's MD5")


def upload_vhd(
    path: Path,
    blob: BlobClient,
    *,
    metadata: dict[str, str],
    threads: int = 8,
    chunk_size: int = 4 * MIB,
    progress: Callable[[int], None] | None = None,
) -> UploadResult:
    """Upload a fixed, dynamic or raw disk as a fixed VHD page blob, then verify it.

    Args:
        progress: called from the caller's thread with the count of leading bytes
            that are written or skipped as zero, rising to the blob size.
    """
    _, source = open_source(path)
    return upload_source(
        source,
        blob,
        metadata=metadata,
        threads=threads,
        chunk_size=chunk_size,
        progress=progress,
    )


def upload_source(
    source: FixedVhdSource,
    blob: BlobClient,
    *,
    metadata: dict[str, str],
    threads: int = 8,
    chunk_size: int = 4 * MIB,
    progress: Callable[[int], None] | None = None,
    start: UploadStart | None = None,
) -> UploadResult:
    """Upload an opened disk (see extents.open_source) as a fixed VHD page blob.

    An unfinished upload of the same file at the blob is resumed (see begin_upload,
    which gives `start`); an interrupted or failed upload keeps its partial blob,
    unstamped, for the next run, unless the file or the result is wrong.
    """
    if chunk_size <= 0 or chunk_size % 512 or chunk_size > MAX_PAGE_WRITE:
        raise ValueError(
            f"chunk_size {chunk_size} must be a multiple of 512 up to 4 MiB"
        )
    if threads < 1:
        raise ValueError(f"threads {threads} must be at least 1")

    path = source.path
    size = source.virtual_size + FOOTER_SIZE
    name = f"{blob.account_name}/{blob.container_name}/{blob.blob_name}"
    logger.info("Uploading %s (%d MiB) to %s", path.name, size // MIB, name)
    started = time.monotonic()

    if start is None:
        start = begin_upload(source, blob)
    logger.info("%s: %s", name, start.note)

    try:
        sender, footer, md5 = _send(
            source, blob, chunk_size, threads, progress, start.written
        )
        _check_footer(blob, size, footer)
        md5_b64 = base64.b64encode(md5).decode()
        blob.set_http_headers(
            ContentSettings(
                content_type="application/octet-stream", content_md5=bytearray(md5)
            )
        )
        blob.set_blob_metadata({**metadata, META_MD5: md5_b64, META_SIZE: str(size)})
        _check_stamps(blob, size, md5)
    except (VhdError, UploadError):
        _delete_partial(blob, name)
        raise
    except AzureError as exc:
        raise UploadError(
            f"{_failure(path, name, exc)}; the partial blob is kept, unstamped: run "
            "the same upload again to send only what is missing"
        ) from None

    seconds = time.monotonic() - started
    result = UploadResult(
        blob_name=blob.blob_name,
        size=size,
        bytes_sent=sender.bytes_sent,
        md5=md5_b64,
        seconds=seconds,
        mib_per_second=size / MIB / seconds if seconds else 0.0,
        bytes_kept=sender.bytes_kept,
        resumed=start.resumed,
    )
    logger.info(
        "Uploaded %s: %d MiB (%.1f MiB sent, %.1f MiB kept) in %.1f s, %.1f MiB/s, "
        "MD5 %s",
        name,
        size // MIB,
        sender.bytes_sent / MIB,
        sender.bytes_kept / MIB,
        seconds,
        result.mib_per_second,
        md5_b64,
    )
    return result


def _send(
    source: FixedVhdSource,
    blob: BlobClient,
    chunk_size: int,
    threads: int,
    progress: Callable[[int], None] | None,
    written: WrittenPages | None,
) -> tuple[PageSender, bytes, bytes]:
    """Write the source's non-zero pages and footer; return sender, footer and MD5."""
    digest = FixedVhdDigest()
    with ThreadPoolExecutor(threads) as pool:
        sender = PageSender(blob, pool, 2 * threads, progress, written)
        try:
            for offset, chunk in source.extents(chunk_size):
                digest.update(offset, chunk)
                sender.send_chunk(chunk, offset)
            footer = source.footer()
            md5 = digest.finish(source.virtual_size, footer)
            sender.send_chunk(footer, source.virtual_size)
            sender.finish()
        finally:
            pool.shutdown(cancel_futures=True)
    return sender, footer, md5


def begin_upload(source: FixedVhdSource, blob: BlobClient) -> UploadStart:
    """Find this file's unfinished upload at the blob to resume, or create the blob."""
    name = f"{blob.account_name}/{blob.container_name}/{blob.blob_name}"
    size = source.virtual_size + FOOTER_SIZE
    try:
        return start_upload(blob, size, source_identity(source.path))
    except AzureError as exc:
        raise UploadError(_failure(source.path, name, exc)) from None


def _failure(path: Path, name: str, exc: AzureError) -> str:
    """An error message for a failed Azure call, with any SAS redacted."""
    reason = redact_text(str(exc))
    return f"upload of {path.name} to {name} failed: {type(exc).__name__}: {reason}"


def _delete_partial(blob: BlobClient, name: str) -> None:
    """Delete the blob this upload created, so a failure leaves nothing behind."""
    try:
        blob.delete_blob()
    except ResourceNotFoundError:
        pass
    except AzureError as exc:
        logger.warning(
            "Could not delete partial blob %s: %s; delete it by hand",
            name,
            redact_text(str(exc)),
        )
    else:
        logger.info("Deleted partial blob %s", name)
