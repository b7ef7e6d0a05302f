"""Azure's acceptance rules for a fixed VHD, checked on the footer of a page blob."""

from __future__ import annotations

import struct
from dataclasses import dataclass

FOOTER_SIZE = 512
COOKIE = b"conectix"
DISK_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}
MIB = 1024 * 1024
MIN_OS_DISK = 20 * MIB
MAX_OS_DISK = 2 * 1024 * 1024 * MIB
CHECKSUM_AT = 64


class VhdRejected(ValueError):
    """The blob is not a VHD Azure accepts; the message says why."""


@dataclass(frozen=True)
class FixedVhd:
    """The facts of an accepted footer."""

    virtual_size: int


def footer_checksum(footer: bytes) -> int:
    """One's complement of the byte sum, the checksum field counted as zero."""
    total = sum(footer[:CHECKSUM_AT]) + sum(footer[CHECKSUM_AT + 4 :])
    return ~total & 0xFFFFFFFF


def check_fixed_vhd(footer: bytes, blob_size: int, blob_uri: str) -> FixedVhd:
    """Accept the last 512 bytes of a page blob as a fixed VHD footer, or refuse."""
    if blob_size < FOOTER_SIZE or len(footer) != FOOTER_SIZE:
        raise VhdRejected(
            f"The blob {blob_uri} of {blob_size} bytes is too small to hold a "
            "512-byte VHD footer."
        )

    cookie = footer[:8]
    if cookie != COOKIE:
        raise VhdRejected(
            f"The specified cookie value in VHD footer indicates that blob {blob_uri} "
            f"is not a supported VHD (cookie {cookie!r}). Disk is expected to have "
            "cookie value 'conectix'; convert it with `qemu-img convert -O vpc "
            "-o subformat=fixed,force_size`."
        )

    (stored_checksum,) = struct.unpack_from(">I", footer, CHECKSUM_AT)
    expected = footer_checksum(footer)
    if stored_checksum != expected:
        raise VhdRejected(
            f"The VHD footer of blob {blob_uri} has checksum {stored_checksum:#010x} "
            f"where its content gives {expected:#010x}; the footer is damaged."
        )

    (disk_type,) = struct.unpack_from(">I", footer, 60)
    if disk_type != 2:
        kind = DISK_TYPES.get(disk_type, f"unknown type {disk_type}")
        raise VhdRejected(
            f"The VHD {blob_uri} is a {kind} disk; only fixed VHDs can be used. "
            "Convert it with `qemu-img convert -O vpc -o subformat=fixed,force_size`."
        )

    (virtual_size,) = struct.unpack_from(">Q", footer, 48)
    if blob_size != virtual_size + FOOTER_SIZE:
        raise VhdRejected(
            f"The blob {blob_uri} is {blob_size} bytes but its VHD footer states a "
            f"virtual size of {virtual_size} bytes; a fixed VHD blob must be the "
            "virtual size plus 512 bytes."
        )
    if virtual_size % MIB:
        raise VhdRejected(
            f"The VHD {blob_uri} has an unsupported virtual size of {virtual_size} "
            f"bytes ({virtual_size / MIB:.3f} MiB). The size must be a whole number "
            "of MiB; resize it with `qemu-img resize`."
        )
    if virtual_size < MIN_OS_DISK or virtual_size > MAX_OS_DISK:
        raise VhdRejected(
            f"The VHD {blob_uri} has a virtual size of {virtual_size // MIB} MiB; an "
            "OS disk must be between 20 MiB and 2 TiB."
        )

    return FixedVhd(virtual_size=virtual_size)
