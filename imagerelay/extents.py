"""The fixed VHD a disk file becomes, read as extents in order, and its MD5."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from imagerelay.disk_format import (
    QEMU_FORMATS,
    Container,
    DiskFile,
    check_upload,
    read_disk,
)
from imagerelay.dynamic_vhd import BlockTable
from imagerelay.vhd import (
    FOOTER_SIZE,
    MIB,
    VhdError,
    VhdFooter,
    as_fixed_footer,
    build_footer,
    check_for_azure,
    parse_footer,
)

_ZEROS = bytes(4 * MIB)
_RAW_FOOTER_NAMESPACE = uuid.UUID("5d1f3b52-8f0e-4c1e-9a53-6a3f1d0e2b77")


class FixedVhdSource(Protocol):
    """A disk as the bytes of a fixed VHD: data extents, then a footer."""

    path: Path
    name: str
    virtual_size: int

    def extents(self, chunk_size: int) -> Iterator[tuple[int, bytes]]:
        """Yield (offset, bytes) of data below virtual_size, ascending; gaps are zero.

        Each extent is at most `chunk_size` bytes and a whole number of sectors.
        """
        ...

    def footer(self) -> bytes:
        """The fixed footer written at virtual_size, once the extents are read."""
        ...


class _FileSource:
    """Shared checks for sources that read one file that must not change."""

    def __init__(self, disk: DiskFile) -> None:
        self.path = disk.path
        self.name = disk.path.name
        self.file_size = disk.file_size
        self.virtual_size = disk.virtual_size or 0

    def _check_unchanged(self) -> None:
        """Refuse a file that grew or shrank while it was read."""
        if self.path.stat().st_size != self.file_size:
            raise VhdError(f"{self.name} changed size while it was read; upload again")


class FixedFile(_FileSource):
    """A fixed VHD: the file is already the blob's bytes."""

    _footer = b""

    def extents(self, chunk_size: int) -> Iterator[tuple[int, bytes]]:
        """The file's data part, chunk by chunk; the footer is kept for footer()."""
        data_size = self.data_size()
        with self.path.open("rb") as file:
            offset = 0
            while offset < data_size:
                chunk = file.read(min(chunk_size, data_size - offset))
                if not chunk:
                    break
                yield offset, chunk
                offset += len(chunk)
            self._footer = file.read(FOOTER_SIZE)
        self._check_unchanged()

    def footer(self) -> bytes:
        """The footer as read at the end of the file."""
        return self._footer

    def data_size(self) -> int:
        return self.virtual_size


class ResizedFixedFile(FixedFile):
    """A fixed VHD whose virtual size is not a whole MiB, grown to the next MiB.

    Growing only appends zeros, so the disk's partitions and data are untouched.
    """

    def __init__(self, disk: DiskFile, footer: VhdFooter) -> None:
        super().__init__(disk)
        self._old = footer
        self.virtual_size = whole_mib(footer.current_size)

    def data_size(self) -> int:
        return self._old.current_size

    def footer(self) -> bytes:
        """A fixed footer for the new size, keeping the old one's date and id."""
        return build_footer(
            self.virtual_size,
            timestamp=self._old.created_unix,
            unique_id=self._old.unique_id,
        )


def whole_mib(size: int) -> int:
    return -(-size // MIB) * MIB


def _check_resizable(disk: DiskFile, footer: VhdFooter) -> None:
    """Apply Azure's checks to the disk as it will be once grown to a whole MiB."""
    grown = whole_mib(footer.current_size)
    growth = grown - footer.current_size
    check_for_azure(
        dataclasses.replace(footer, current_size=grown),
        disk.file_size + growth,
        disk.path.name,
    )


class RawFile(_FileSource):
    """A raw disk: its bytes, zeros up to a whole MiB, then a new fixed footer."""

    def extents(self, chunk_size: int) -> Iterator[tuple[int, bytes]]:
        """The file's bytes, the last chunk padded with zeros to a whole sector."""
        with self.path.open("rb") as file:
            offset = 0
            while chunk := file.read(chunk_size):
                yield offset, chunk + bytes(-len(chunk) % 512)
                offset += len(chunk)
        self._check_unchanged()

    def footer(self) -> bytes:
        """A fixed footer dated and identified by the file, so its MD5 is stable."""
        stat = self.path.stat()
        identity = f"{self.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return build_footer(
            self.virtual_size,
            timestamp=int(stat.st_mtime),
            unique_id=uuid.uuid5(_RAW_FOOTER_NAMESPACE, identity),
        )


class DynamicFile(_FileSource):
    """A dynamic VHD: its allocated blocks at their places, then its footer as fixed.

    With `resize`, a virtual size that is not a whole MiB grows to the next MiB:
    zeros are appended, the data is untouched.
    """

    def __init__(
        self, disk: DiskFile, blocks: BlockTable, footer: bytes, resize: bool = False
    ) -> None:
        super().__init__(disk)
        self.blocks = blocks
        self.data_size = self.virtual_size
        self._footer = as_fixed_footer(footer)
        if resize and self.virtual_size % MIB:
            old = parse_footer(footer)
            self.virtual_size = whole_mib(self.virtual_size)
            self._footer = build_footer(
                self.virtual_size, timestamp=old.created_unix, unique_id=old.unique_id
            )

    def extents(self, chunk_size: int) -> Iterator[tuple[int, bytes]]:
        """Each allocated block's data, cut to the virtual size and to chunk_size."""
        block_size = self.blocks.header.block_size
        # The sector bitmaps are not consulted, as qemu does not: a dynamic disk's
        # unwritten sectors in an allocated block are zeros in the block itself.
        with self.path.open("rb") as file:
            for index, start in self.blocks.allocated():
                base = index * block_size
                length = min(block_size, self.data_size - base)
                file.seek(start)
                for done in range(0, max(length, 0), chunk_size):
                    chunk = file.read(min(chunk_size, length - done))
                    if len(chunk) != min(chunk_size, length - done):
                        raise VhdError(
                            f"{self.name} ended inside block {index}; the VHD is "
                            "truncated, copy it again from its source"
                        )
                    yield base + done, chunk
        self._check_unchanged()

    def footer(self) -> bytes:
        """The dynamic footer with disk type fixed and no data offset."""
        return self._footer


def open_source(path: Path, resize: bool = False) -> tuple[DiskFile, FixedVhdSource]:
    """A disk file and the fixed VHD it uploads as; refuse what Azure won't take.

    Args:
        resize: grow a fixed VHD whose virtual size is not a whole MiB to the next
            MiB (never shrink), instead of refusing it.
    """
    return open_disk(read_disk(path), resize)


def open_disk(disk: DiskFile, resize: bool = False) -> tuple[DiskFile, FixedVhdSource]:
    """open_source for a disk file already read with read_disk."""
    path = disk.path
    footer = disk.footer
    grow = resize and footer is not None and footer.current_size % MIB != 0
    if grow and footer is not None and disk.container is Container.FIXED_VHD:
        _check_resizable(disk, footer)
        return disk, ResizedFixedFile(disk, footer)
    if grow and footer is not None and disk.container is Container.DYNAMIC_VHD:
        grown = dataclasses.replace(footer, current_size=whole_mib(footer.current_size))
        disk = dataclasses.replace(disk, footer=grown)
    check_upload(disk)
    if disk.container in QEMU_FORMATS:
        raise VhdError(
            f"{path.name} is a {disk.container.value} image; it must be converted to "
            "raw first (`imagerelay upload` does this with qemu-img)"
        )
    if disk.container is Container.RAW:
        return disk, RawFile(disk)
    if disk.container is Container.DYNAMIC_VHD:
        assert disk.blocks is not None
        with path.open("rb") as file:
            file.seek(disk.file_size - FOOTER_SIZE)
            raw_footer = file.read(FOOTER_SIZE)
        return disk, DynamicFile(disk, disk.blocks, raw_footer, resize)
    return disk, FixedFile(disk)


class FixedVhdDigest:
    """The MD5 of a fixed VHD fed as extents, hashing the gaps as zeros."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self.offset = 0

    def update(self, offset: int, chunk: bytes) -> None:
        """Hash zeros up to `offset`, then the chunk."""
        if offset < self.offset:
            raise ValueError(f"extent at {offset} is before {self.offset}")
        self._zeros(offset - self.offset)
        self._md5.update(chunk)
        self.offset = offset + len(chunk)

    def finish(self, virtual_size: int, footer: bytes) -> bytes:
        """Hash zeros up to the virtual size and the footer; return the digest."""
        self.update(virtual_size, footer)
        return self._md5.digest()

    def _zeros(self, count: int) -> None:
        """Hash `count` zero bytes from one reusable buffer."""
        view = memoryview(_ZEROS)
        while count > 0:
            step = min(count, len(_ZEROS))
            self._md5.update(view[:step])
            count -= step


def fixed_vhd_md5(source: FixedVhdSource, chunk_size: int = 4 * MIB) -> bytes:
    """The MD5 the upload of this source stamps, computed without sending."""
    digest = FixedVhdDigest()
    for offset, chunk in source.extents(chunk_size):
        digest.update(offset, chunk)
    return digest.finish(source.virtual_size, source.footer())
