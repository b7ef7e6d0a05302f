"""Resume an interrupted upload: whose partial blob it is, and which pages it holds."""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties

META_MD5 = "imagerelay_md5"
META_PARTIAL = "imagerelay_partial"
_VERSION = "v1"
_SAMPLES = 16
_SAMPLE_SIZE = 64 * 1024


@dataclass(frozen=True)
class SourceIdentity:
    """What tells one disk file from another without reading it all."""

    file_size: int
    mtime_ns: int
    fingerprint: str

    def stamp(self) -> str:
        """The identity as a metadata value stamped on the partial blob."""
        return f"{_VERSION}:{self.file_size}:{self.mtime_ns}:{self.fingerprint}"


def source_identity(path: Path) -> SourceIdentity:
    """Size, modification time and an MD5 of 17 samples of 64 KiB spread over the file.

    The samples are a cheap guard against a file rewritten in place with the same
    size and time; the resume reads back every page it keeps in any case.
    """
    size = path.stat().st_size
    md5 = hashlib.md5()
    with path.open("rb") as file:
        offsets = [size * n // _SAMPLES // 512 * 512 for n in range(_SAMPLES)]
        for offset in [*offsets, max(size - _SAMPLE_SIZE, 0)]:
            file.seek(offset)
            md5.update(file.read(_SAMPLE_SIZE))
    return SourceIdentity(size, path.stat().st_mtime_ns, md5.hexdigest())


class WrittenPages:
    """The merged page ranges a partial blob holds, asked for in ascending order."""

    def __init__(self, blob: BlobClient) -> None:
        self.starts: array[int] = array("q")
        self.ends: array[int] = array("q")
        # Limitation: every range is held in memory (16 bytes each); Azure merges
        # adjacent pages, so a disk holds thousands of ranges, not millions.
        for page in blob.list_page_ranges():
            start, end = int(page.start or 0), int(page.end or 0) + 1
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)
        self._cursor = 0

    @property
    def total(self) -> int:
        """Bytes the blob holds in written pages."""
        return sum(self.ends) - sum(self.starts)

    def within(self, start: int, end: int) -> list[tuple[int, int]]:
        """The written parts of [start, end); calls must not go backwards."""
        while self._cursor < len(self.ends) and self.ends[self._cursor] <= start:
            self._cursor += 1
        parts = []
        index = self._cursor
        while index < len(self.starts) and self.starts[index] < end:
            parts.append((max(self.starts[index], start), min(self.ends[index], end)))
            index += 1
        return parts


@dataclass
class UploadStart:
    """The blob an upload writes to: new, or a partial one it resumes."""

    written: WrittenPages | None
    note: str

    @property
    def resumed(self) -> bool:
        return self.written is not None


def start_upload(blob: BlobClient, size: int, identity: SourceIdentity) -> UploadStart:
    """Resume the blob if it is this file's unfinished upload, else create it anew."""
    # Limitation: two runs of the same upload at once are not fenced off (no blob
    # lease, which a killed run would leave held); both would write the same bytes.
    try:
        properties = blob.get_blob_properties()
    except ResourceNotFoundError:
        properties = None

    note = "new upload"
    if properties is not None:
        reason = _not_resumable(properties, size, identity)
        if reason is None:
            written = WrittenPages(blob)
            return UploadStart(
                written,
                f"resuming an interrupted upload of this file: {written.total:,} "
                "bytes are already in tier-0 and are read back, not sent",
            )
        note = f"starting over: {reason}"
    blob.create_page_blob(size, metadata={META_PARTIAL: identity.stamp()})
    return UploadStart(None, note)


def _not_resumable(
    properties: BlobProperties, size: int, identity: SourceIdentity
) -> str | None:
    """Why the existing blob is not this file's unfinished upload, or None if it is."""
    metadata = properties.metadata or {}
    stamp = metadata.get(META_PARTIAL)
    if META_MD5 in metadata:
        return "the blob holds a finished upload"
    if stamp is None:
        return "the blob holds an unfinished upload that does not say which file"
    if properties.blob_type != "PageBlob" or properties.size != size:
        return f"the unfinished upload is {properties.size} bytes, this file {size}"
    if stamp != identity.stamp():
        return (
            "the unfinished upload is of another file, or of this file before it "
            "changed (size, modification time or sampled content differ)"
        )
    return None
