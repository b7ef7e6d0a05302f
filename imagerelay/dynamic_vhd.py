"""The dynamic VHD's header and block allocation table, read without loading blocks."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imagerelay.vhd import FOOTER_SIZE, VhdError, VhdFooter

HEADER_SIZE = 1024
HEADER_COOKIE = b"cxsparse"
UNALLOCATED = 0xFFFF_FFFF
SECTOR = 512

# Cookie, data offset, table offset, header version, max table entries,
# block size, checksum; the parent's identity and locators follow.
_HEADER = struct.Struct(">8sQQIIII")
_CHECKSUM_AT = 36
# Larger tables are refused: 2 TiB in blocks of 512 KiB, 16 MiB of table.
_MAX_ENTRIES = 4 * 1024 * 1024


@dataclass(frozen=True)
class DynamicHeader:
    """The fields of the dynamic disk header that locate the blocks."""

    table_offset: int
    max_table_entries: int
    block_size: int

    @property
    def bitmap_size(self) -> int:
        """Bytes of sector bitmap before each block's data, padded to a sector."""
        bits_bytes = -(-self.block_size // SECTOR // 8)
        return -(-bits_bytes // SECTOR) * SECTOR


@dataclass(frozen=True)
class BlockTable:
    """Where each block of a dynamic or differencing VHD starts in the file."""

    header: DynamicHeader
    sector_offsets: array[int]

    @property
    def allocated_blocks(self) -> int:
        """How many blocks the file holds data for."""
        return sum(1 for entry in self.sector_offsets if entry != UNALLOCATED)

    def allocated(self) -> Iterator[tuple[int, int]]:
        """Yield (block index, file offset of its data) per allocated block."""
        skip = self.header.bitmap_size
        for index, entry in enumerate(self.sector_offsets):
            if entry != UNALLOCATED:
                yield index, entry * SECTOR + skip


def _checksum(raw: bytes) -> int:
    """The one's complement of the header's byte sum, checksum field excluded."""
    total = sum(raw[:_CHECKSUM_AT]) + sum(raw[_CHECKSUM_AT + 4 :])
    return ~total & 0xFFFF_FFFF


def _read_exactly(file: BinaryIO, offset: int, length: int, what: str) -> bytes:
    """Read `length` bytes at `offset`, calling a short read a truncated file."""
    try:
        file.seek(offset)
    except (OverflowError, ValueError, OSError):
        raise VhdError(
            f"the {what} is said to be at byte {offset}, which no file can hold; the "
            "VHD is damaged, copy it again from its source"
        ) from None
    raw = file.read(length)
    if len(raw) != length:
        raise VhdError(
            f"the {what} at byte {offset} runs past the end of the file; the VHD "
            "is truncated, copy it again from its source"
        )
    return raw


def parse_header(raw: bytes) -> DynamicHeader:
    """Decode a 1024-byte dynamic disk header, checking cookie, checksum and sizes."""
    cookie, _, table_offset, _, entries, block_size, checksum = _HEADER.unpack_from(raw)
    if cookie != HEADER_COOKIE:
        raise VhdError(
            f"the dynamic disk header's cookie is {cookie!r}, not "
            f"{HEADER_COOKIE!r}: the VHD is damaged; copy it again from its source "
            "or rebuild it with `qemu-img convert`"
        )
    if checksum != _checksum(raw):
        raise VhdError(
            "the dynamic disk header's checksum does not match: the VHD is damaged; "
            "copy it again from its source or rebuild it with `qemu-img convert`"
        )
    if block_size < SECTOR or block_size & (block_size - 1):
        raise VhdError(
            f"the dynamic disk's block size {block_size} is not a power of two of at "
            "least 512 bytes; rebuild the VHD with `qemu-img convert`"
        )
    if entries > _MAX_ENTRIES:
        raise VhdError(
            f"the dynamic disk's table has {entries} entries, more than any disk "
            "Azure takes; rebuild the VHD with `qemu-img convert`"
        )
    return DynamicHeader(table_offset, entries, block_size)


def read_block_table(path: Path, footer: VhdFooter) -> BlockTable:
    """Read the header at footer.data_offset and the table it points to."""
    with path.open("rb") as file:
        raw = _read_exactly(file, footer.data_offset, HEADER_SIZE, "dynamic header")
        header = parse_header(raw)
        if header.max_table_entries * header.block_size < footer.current_size:
            raise VhdError(
                f"the dynamic disk's table covers {header.max_table_entries} blocks "
                f"of {header.block_size} bytes, less than its virtual size "
                f"{footer.current_size}; the VHD is damaged, rebuild it with "
                "`qemu-img convert`"
            )
        length = 4 * header.max_table_entries
        table = _read_exactly(file, header.table_offset, length, "block table")
        end_of_data = path.stat().st_size - FOOTER_SIZE

    offsets = array("I", table)
    if array("I", [1]).tobytes()[0] == 1:
        offsets.byteswap()
    result = BlockTable(header, offsets)
    table_end = -(-(header.table_offset + length) // SECTOR) * SECTOR
    _check_entries(path.name, result, table_end, end_of_data)
    return result


def _check_entries(name: str, table: BlockTable, table_end: int, data_end: int) -> None:
    """Refuse table entries that overlap the metadata, each other, or the file's end.

    A block missing where the next block would be appended means the file was cut
    short; any other entry out of place is a damaged table.
    """
    stride = table.header.bitmap_size + table.header.block_size
    starts = sorted(
        (entry * SECTOR, index)
        for index, entry in enumerate(table.sector_offsets)
        if entry != UNALLOCATED
    )
    previous_end = table_end
    for start, index in starts:
        if start < previous_end and start + stride <= data_end:
            what = "the header or table" if start < table_end else "another block"
            raise VhdError(
                f"{name}'s block allocation table is damaged: the entry for block "
                f"{index} points at byte {start}, inside {what}; copy the VHD again "
                "from its source, and if that is damaged too, export the disk again"
            )
        if start + stride > data_end:
            if previous_end <= start < previous_end + stride:
                raise VhdError(
                    f"block {index} of {name} lies past the end of its data; the "
                    "VHD is truncated, copy it again from its source"
                )
            raise VhdError(
                f"{name}'s block allocation table is damaged: the entry for block "
                f"{index} points at byte {start}, past the end of the data at byte "
                f"{data_end}; copy the VHD again from its source, and if that is "
                "damaged too, export the disk again"
            )
        previous_end = start + stride
