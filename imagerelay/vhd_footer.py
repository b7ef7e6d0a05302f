"""The 512-byte VHD footer: its fields, checksum, CHS geometry, reading and writing."""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass

from imagerelay.vhd_fixes import RAW_FIX

FOOTER_SIZE = 512
COOKIE = b"conectix"
MIB = 1024 * 1024
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
DISK_TYPES = {FIXED: "fixed", DYNAMIC: "dynamic", DIFFERENCING: "differencing"}

# Seconds between the Unix epoch and the VHD epoch, 2000-01-01T00:00:00Z.
VHD_EPOCH = 946_684_800
FEATURES_RESERVED = 0x00000002
FORMAT_VERSION = 0x00010000
NO_DATA_OFFSET = 0xFFFF_FFFF_FFFF_FFFF

# Big-endian layout of the first 85 bytes; 427 reserved zero bytes follow.
_LAYOUT = struct.Struct(">8sIIQI4sI4sQQHBBII16sB")
_CHECKSUM_AT = 64


class VhdError(ValueError):
    """A file Azure would refuse as an image source; the message says how to fix it."""


@dataclass(frozen=True)
class VhdFooter:
    """The 512-byte footer that ends every VHD, field by field."""

    cookie: bytes
    features: int
    format_version: int
    data_offset: int
    timestamp: int
    creator_app: bytes
    creator_version: int
    creator_os: bytes
    original_size: int
    current_size: int
    geometry: tuple[int, int, int]
    disk_type: int
    checksum: int
    unique_id: uuid.UUID
    saved_state: bool

    @property
    def disk_type_name(self) -> str:
        """The disk type as a word: fixed, dynamic, differencing or unknown."""
        return DISK_TYPES.get(self.disk_type, f"unknown type {self.disk_type}")

    @property
    def created_unix(self) -> int:
        """The footer's timestamp as seconds since the Unix epoch."""
        return self.timestamp + VHD_EPOCH


def footer_checksum(raw: bytes) -> int:
    """The one's complement of the byte sum, checksum field excluded."""
    total = sum(raw[:_CHECKSUM_AT]) + sum(raw[_CHECKSUM_AT + 4 : FOOTER_SIZE])
    return ~total & 0xFFFF_FFFF


def parse_footer(raw: bytes) -> VhdFooter:
    """Decode a 512-byte footer, checking its cookie and checksum."""
    if len(raw) != FOOTER_SIZE:
        raise VhdError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(raw)}")

    (
        cookie,
        features,
        format_version,
        data_offset,
        timestamp,
        creator_app,
        creator_version,
        creator_os,
        original_size,
        current_size,
        cylinders,
        heads,
        sectors,
        disk_type,
        checksum,
        unique_id,
        saved_state,
    ) = _LAYOUT.unpack_from(raw)
    if cookie != COOKIE:
        raise VhdError(
            f"footer cookie is {cookie!r}, not {COOKIE!r}: this is not a VHD footer; "
            f"make a VHD with `{RAW_FIX}`"
        )
    expected = footer_checksum(raw)
    if checksum != expected:
        raise VhdError(
            f"footer checksum is {checksum:#010x} but the footer sums to "
            f"{expected:#010x}: the footer is damaged; "
            "copy the VHD again from its source, or rebuild it with `qemu-img convert`"
        )

    return VhdFooter(
        cookie=cookie,
        features=features,
        format_version=format_version,
        data_offset=data_offset,
        timestamp=timestamp,
        creator_app=creator_app,
        creator_version=creator_version,
        creator_os=creator_os,
        original_size=original_size,
        current_size=current_size,
        geometry=(cylinders, heads, sectors),
        disk_type=disk_type,
        checksum=checksum,
        unique_id=uuid.UUID(bytes=unique_id),
        saved_state=bool(saved_state),
    )


def chs_geometry(virtual_size: int) -> tuple[int, int, int]:
    """Cylinders, heads and sectors per track, by the VHD specification's algorithm."""
    total = min(virtual_size // 512, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        sectors, heads = 255, 16
        cylinders_times_heads = total // sectors
    else:
        sectors = 17
        cylinders_times_heads = total // sectors
        heads = max((cylinders_times_heads + 1023) // 1024, 4)
        if cylinders_times_heads >= heads * 1024 or heads > 16:
            sectors, heads = 31, 16
            cylinders_times_heads = total // sectors
        if cylinders_times_heads >= heads * 1024:
            sectors, heads = 63, 16
            cylinders_times_heads = total // sectors
    return cylinders_times_heads // heads, heads, sectors


def build_footer(
    virtual_size: int,
    *,
    timestamp: int | None = None,
    unique_id: uuid.UUID | None = None,
    creator_app: bytes = b"win ",
    creator_version: int = 0x000A0000,
    creator_os: bytes = b"Wi2k",
) -> bytes:
    """A fixed-disk footer for `virtual_size` bytes of raw disk.

    The default creator is Hyper-V's ("win "), which tells readers such as qemu to
    take the size from current_size rather than from the CHS geometry.
    """
    if virtual_size <= 0 or virtual_size % 512:
        raise ValueError(
            f"virtual size {virtual_size} is not a positive multiple of 512"
        )
    if len(creator_app) != 4 or len(creator_os) != 4:
        raise ValueError("creator_app and creator_os are 4 bytes each")

    seconds = int(time.time()) if timestamp is None else timestamp
    fields = _LAYOUT.pack(
        COOKIE,
        FEATURES_RESERVED,
        FORMAT_VERSION,
        NO_DATA_OFFSET,
        max(seconds - VHD_EPOCH, 0) & 0xFFFF_FFFF,
        creator_app,
        creator_version,
        creator_os,
        virtual_size,
        virtual_size,
        *chs_geometry(virtual_size),
        FIXED,
        0,
        (unique_id or uuid.uuid4()).bytes,
        0,
    )
    raw = bytearray(fields.ljust(FOOTER_SIZE, b"\0"))
    struct.pack_into(">I", raw, _CHECKSUM_AT, footer_checksum(bytes(raw)))
    return bytes(raw)


def as_fixed_footer(raw: bytes) -> bytes:
    """The same footer turned fixed: disk type 2, no data offset, checksum redone."""
    fixed = bytearray(raw)
    struct.pack_into(">Q", fixed, 16, NO_DATA_OFFSET)
    struct.pack_into(">I", fixed, 60, FIXED)
    struct.pack_into(">I", fixed, _CHECKSUM_AT, footer_checksum(bytes(fixed)))
    return bytes(fixed)
