"""Server-side blob copies that resume, verify and never report success early."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobClient

from imagerelay.errors import PermanentError
from imagerelay.models import CopyResult
from imagerelay.redact import redact_url

logger = logging.getLogger(__name__)

SOURCE_ETAG = "imagerelay_source_etag"
SOURCE_MD5 = "imagerelay_md5"


class CopyFailed(RuntimeError):
    """Azure ended a copy as failed or aborted, or it did not finish in time."""


class CopyTimedOut(CopyFailed):
    """A copy stayed pending past its time limit and was aborted."""


class CopyRefused(CopyFailed, PermanentError):
    """The destination cannot take the copy until someone fixes it."""


def copy_metadata(
    release: str, source_url: str, etag: str, size: int, md5: str | None
) -> dict[str, str]:
    """Metadata stamped on every copy, so a re-run can tell it is done."""
    metadata = {
        "imagerelay_release": release,
        "imagerelay_source": redact_url(source_url),
        SOURCE_ETAG: etag.strip('"'),
        "imagerelay_size": str(size),
    }
    if md5:
        metadata[SOURCE_MD5] = md5
    return metadata


def is_complete(props: BlobProperties, metadata: dict[str, str], size: int) -> bool:
    """Azure says the copy succeeded, from the expected source, size and MD5."""
    return (
        props.copy.status == "success"
        and props.size == size
        and props.metadata.get(SOURCE_ETAG) == metadata[SOURCE_ETAG]
        and props.metadata.get(SOURCE_MD5) == metadata.get(SOURCE_MD5)
    )


async def copy_blob(
    source_sas_url: str,
    destination: BlobClient,
    metadata: dict[str, str],
    *,
    size: int,
    poll_seconds: float,
    timeout_seconds: float,
) -> CopyResult:
    """Copy a blob server-side and wait for Azure to finish it.

    A destination already copied from the same source is left alone; a pending copy of
    the same source is waited on; anything else is (re)started.
    """
    started = time.monotonic()
    where = redact_url(destination.url)
    existing = await _properties(destination)
    if existing is not None and is_complete(existing, metadata, size):
        logger.info("Copy to %s already done by an earlier run", where)
        return CopyResult(destination=where, size=size, seconds=0.0, skipped=True)

    resumable = (
        existing is not None
        and existing.copy.status == "pending"
        and existing.metadata.get(SOURCE_ETAG) == metadata[SOURCE_ETAG]
    )
    if resumable:
        logger.info("Resuming the pending copy to %s", where)
    else:
        if existing is not None and existing.copy.status == "pending":
            await destination.abort_copy(existing)
        try:
            await destination.start_copy_from_url(source_sas_url, metadata=metadata)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
            raise CopyRefused(
                f"container {destination.container_name} does not exist in storage "
                f"account {destination.account_name}; create it or fix the "
                "target's container in the inventory"
            ) from None
        logger.info("Started copy of %d bytes to %s", size, where)

    while True:
        props = await destination.get_blob_properties()
        status = props.copy.status
        if status == "success":
            if not is_complete(props, metadata, size):
                raise CopyFailed(
                    f"copy to {where} succeeded but the blob has {props.size} bytes "
                    f"and source ETag {props.metadata.get(SOURCE_ETAG)}; expected "
                    f"{size} bytes from {metadata[SOURCE_ETAG]}"
                )
            seconds = time.monotonic() - started
            logger.info("Copied %d bytes to %s in %.1f s", size, where, seconds)
            return CopyResult(
                destination=where, size=size, seconds=seconds, skipped=False
            )
        if status in ("failed", "aborted"):
            raise CopyFailed(
                f"copy to {where} ended {status}: {props.copy.status_description}"
            )
        if time.monotonic() - started > timeout_seconds:
            await destination.abort_copy(props)
            raise CopyTimedOut(
                f"copy to {where} was still pending after {timeout_seconds:.0f} s and "
                "was aborted; raise IMAGERELAY_COPY_TIMEOUT_MINUTES if Azure is slow"
            )
        logger.debug("Copy to %s: %s", where, props.copy.progress)
        await asyncio.sleep(poll_seconds)


async def copy_blob_from_any(
    sources: list[str],
    sas_url: Callable[[str], Awaitable[str]],
    destination: BlobClient,
    metadata: Callable[[str], dict[str, str]],
    *,
    size: int,
    poll_seconds: float,
    timeout_seconds: float,
) -> CopyResult:
    """Copy from the first source; a copy that times out is retried from the next.

    Args:
        sources: blob names holding the same content, in the order to try them.
        sas_url: makes a read SAS URL for a source, just before it is used.
        metadata: the metadata to stamp for a source's SAS URL.
    """
    for attempt, source in enumerate(sources, start=1):
        url = await sas_url(source)
        try:
            return await copy_blob(
                url,
                destination,
                metadata(url),
                size=size,
                poll_seconds=poll_seconds,
                timeout_seconds=timeout_seconds,
            )
        except CopyTimedOut:
            if attempt == len(sources):
                raise
            logger.warning(
                "Copy to %s from %s timed out; retrying from %s",
                redact_url(destination.url),
                source,
                sources[attempt],
            )
    raise ValueError("copy_blob_from_any needs at least one source")


async def _properties(blob: BlobClient) -> BlobProperties | None:
    try:
        return await blob.get_blob_properties()
    except ResourceNotFoundError:
        return None
