"""Stream a disk into a page blob as a fixed VHD, skipping zeros; prove it arrived."""

from __future__ import annotations

import base64
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContentSettings

from imagerelay.extents import FixedVhdDigest, FixedVhdSource, open_source
from imagerelay.redact import redact_text
from imagerelay.vhd import FOOTER_SIZE, MIB

logger = logging.getLogger(__name__)

MAX_PAGE_WRITE = 4 * MIB
SPARSE_GRANULE = 64 * 1024
META_MD5 = "imagerelay_md5"
META_SIZE = "imagerelay_size"

_ZERO_GRANULE = bytes(SPARSE_GRANULE)


class UploadError(RuntimeError):
    """The upload failed; the partial blob was deleted."""


@dataclass(frozen=True)
class UploadResult:
    """What one upload sent, and how fast."""

    blob_name: str
    size: int
    bytes_sent: int
    md5: str
    seconds: float
    mib_per_second: float


def nonzero_ranges(chunk: bytes) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of the runs of non-zero granules in a chunk."""
    start = None
    for offset in range(0, len(chunk), SPARSE_GRANULE):
        end = min(offset + SPARSE_GRANULE, len(chunk))
        zero = chunk.startswith(_ZERO_GRANULE[: end - offset], offset, end)
        if zero and start is not None:
            yield start, offset
            start = None
        elif not zero and start is None:
            start = offset
    if start is not None:
        yield start, len(chunk)


class _PageSender:
    """Writes pages on a thread pool with a bounded number of writes in flight."""

    def __init__(
        self,
        blob: BlobClient,
        pool: ThreadPoolExecutor,
        limit: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.blob = blob
        self.pool = pool
        self.limit = limit
        self.progress = progress
        self.bytes_sent = 0
        self._pending: deque[tuple[int, list[Future[Any]]]] = deque()
        self._in_flight: set[Future[Any]] = set()

    def send_chunk(self, chunk: bytes, offset: int) -> None:
        """Queue the non-zero parts of a chunk that starts at `offset` in the blob."""
        futures = []
        for start, end in nonzero_ranges(chunk):
            while len(self._in_flight) >= self.limit:
                done, _ = wait(self._in_flight, return_when=FIRST_COMPLETED)
                self._settle(done)
            whole = start == 0 and end == len(chunk)
            future = self.pool.submit(
                self.blob.upload_page,
                chunk if whole else chunk[start:end],
                offset=offset + start,
                length=end - start,
                validate_content=True,
            )
            self._in_flight.add(future)
            futures.append(future)
            self.bytes_sent += end - start
        self._pending.append((offset + len(chunk), futures))
        self._report()

    def finish(self) -> None:
        """Wait for every queued write, raising the first failure."""
        self._settle(wait(self._in_flight).done)
        self._report()

    def _settle(self, done: set[Future[Any]]) -> None:
        """Forget finished writes, raising if one of them failed."""
        for future in done:
            self._in_flight.discard(future)
            future.result()

    def _report(self) -> None:
        """Tell the caller how many leading bytes are written or known to be zero."""
        reached = None
        while self._pending and all(f.done() for f in self._pending[0][1]):
            end, futures = self._pending.popleft()
            for future in futures:
                future.result()
            reached = end
        if reached is not None and self.progress is not None:
            self.progress(reached)


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
) -> UploadResult:
    """Upload an opened disk (see extents.open_source) as a fixed VHD page blob."""
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

    try:
        blob.create_page_blob(size)
    except AzureError as exc:
        raise UploadError(_failure(path, name, exc)) from None

    try:
        sender, footer, md5 = _send(source, blob, chunk_size, threads, progress)
        _check_footer(blob, size, footer)
        md5_b64 = base64.b64encode(md5).decode()
        blob.set_http_headers(
            ContentSettings(
                content_type="application/octet-stream", content_md5=bytearray(md5)
            )
        )
        blob.set_blob_metadata({**metadata, META_MD5: md5_b64, META_SIZE: str(size)})
        _check_stamps(blob, size, md5)
    except BaseException as exc:
        _delete_partial(blob, name)
        if isinstance(exc, AzureError):
            raise UploadError(_failure(path, name, exc)) from None
        raise

    seconds = time.monotonic() - started
    result = UploadResult(
        blob_name=blob.blob_name,
        size=size,
        bytes_sent=sender.bytes_sent,
        md5=md5_b64,
        seconds=seconds,
        mib_per_second=size / MIB / seconds if seconds else 0.0,
    )
    logger.info(
        "Uploaded %s: %d MiB (%.1f MiB sent) in %.1f s, %.1f MiB/s, MD5 %s",
        name,
        size // MIB,
        sender.bytes_sent / MIB,
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
) -> tuple[_PageSender, bytes, bytes]:
    """Write the source's non-zero pages and footer; return sender, footer and MD5."""
    digest = FixedVhdDigest()
    with ThreadPoolExecutor(threads) as pool:
        sender = _PageSender(blob, pool, 2 * threads, progress)
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
