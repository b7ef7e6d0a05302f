"""The VHD footer, and the rules a VHD must meet before Azure makes an image of it."""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

FOOTER_SIZE = 512
COOKIE = b"conectix"
MIB = 1024 * 1024
MIN_SIZE = 20 * MIB
MAX_SIZE = 2 * 1024 * 1024 * MIB
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

_FIX = "qemu-img convert -f {fmt} -O vpc -o subformat=fixed,force_size=on {src} {dst}"
_RAW_FIX = _FIX.format(fmt="raw", src="disk.raw", dst="disk.vhd")
_RESIZE = (
    "qemu-img convert -f vpc -O raw {name} disk.raw && "
    "qemu-img resize -f raw disk.raw {mib}M && "
    "qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw {out}"
)


def convert_fix(fmt: str, src: str, dst: str) -> str:
    """The qemu-img command that turns `src` in format `fmt` into a fixed VHD.

    The output never overwrites the input: a clash gets a -fixed name.
    """
    if dst == src:
        dst = f"{dst.removesuffix('.vhd')}-fixed.vhd"
    return _FIX.format(fmt=fmt, src=src, dst=dst)


def _resize_fix(name: str, mib: int) -> str:
    """Commands that resize a VHD into a new file, leaving the original alone."""
    out = f"{name.rsplit('/', 1)[-1].removesuffix('.vhd')}-{mib}M.vhd"
    return _RESIZE.format(name=name, mib=mib, out=out)


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
            f"make a VHD with `{_RAW_FIX}`"
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


def _mib(size: int) -> str:
    """A byte count in MiB, without a trailing .0 for whole numbers."""
    return f"{size / MIB:g}" if size % MIB == 0 else f"{size / MIB:.6g}"


def _refuse_other_format(path: Path, head: bytes) -> None:
    """Refuse VHDX and qcow2 files, which Azure does not take, naming the fix."""
    for magic, fmt in ((b"vhdxfile", "vhdx"), (b"QFI\xfb", "qcow2")):
        if head.startswith(magic):
            fix = _FIX.format(fmt=fmt, src=path.name, dst=f"{path.stem}.vhd")
            raise VhdError(
                f"{path.name} is a {fmt.upper()} image, and Azure takes only fixed "
                f"VHDs; convert it with `{fix}`"
            )


def read_ends(path: Path) -> tuple[int, bytes, bytes]:
    """The file's size, first 512 bytes and last 512 bytes, with friendly errors."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            head = file.read(FOOTER_SIZE)
            file.seek(max(size - FOOTER_SIZE, 0))
            tail = file.read(FOOTER_SIZE)
    except FileNotFoundError:
        raise VhdError(f"{path} does not exist; check the path") from None
    except IsADirectoryError:
        raise VhdError(f"{path} is a directory; pass the .vhd file inside it") from None
    except PermissionError:
        raise VhdError(
            f"{path} is not readable by this user; fix its permissions "
            f"(`chmod o+r {path}`) or run as its owner"
        ) from None
    except OSError as exc:
        raise VhdError(
            f"{path} cannot be read ({exc.strerror}); check the file"
        ) from exc
    return size, head, tail


def inspect_vhd(path: Path) -> VhdFooter:
    """Read a VHD's footer and refuse it unless Azure can take the file as it is."""
    size, head, tail = read_ends(path)
    if size == 0:
        raise VhdError(f"{path.name} is empty; the VHD was not written or not copied")
    _refuse_other_format(path, head)
    if size < FOOTER_SIZE:
        raise VhdError(
            f"{path.name} is {size} bytes, shorter than a {FOOTER_SIZE}-byte VHD "
            "footer; the file is truncated, copy it again from its source"
        )

    if not tail.startswith(COOKIE):
        if head.startswith(COOKIE):
            raise VhdError(
                f"{path.name} starts with a VHD header but does not end with a VHD "
                "footer; the file is truncated, copy it again from its source"
            )
        dst = f"{path.stem}-fixed.vhd" if path.suffix == ".vhd" else f"{path.stem}.vhd"
        fix = _FIX.format(fmt="raw", src=path.name, dst=dst)
        raise VhdError(
            f"{path.name} has no VHD footer (cookie {COOKIE.decode()}) in its last "
            f"{FOOTER_SIZE} bytes. If it is a raw disk, convert it with `{fix}`; "
            "if it is a truncated copy, copy it again from its source"
        )
    try:
        footer = parse_footer(tail)
    except VhdError as exc:
        raise VhdError(f"{path.name}: {exc}") from None
    check_for_azure(footer, size, path.name)
    return footer


def check_for_azure(footer: VhdFooter, size: int, name: str) -> None:
    """Refuse a VHD of `size` bytes with this footer unless Azure can make an image.

    Args:
        name: the file or blob name, used in messages and suggested commands.
    """
    stem = name.rsplit("/", 1)[-1].removesuffix(".vhd")
    if footer.disk_type != FIXED:
        fix = _FIX.format(fmt="vpc", src=name, dst=f"{stem}-fixed.vhd")
        raise VhdError(
            f"{name} is a {footer.disk_type_name} VHD and Azure takes only fixed "
            f"VHDs; convert it with `{fix}`"
        )

    virtual = footer.current_size
    if size != virtual + FOOTER_SIZE:
        raise VhdError(
            f"{name} is {size} bytes but its footer says virtual size {virtual} "
            f"bytes, so the file should be {virtual + FOOTER_SIZE} bytes; it was "
            "truncated or appended to, copy it again from its source"
        )
    check_virtual_size(footer, name)


def check_virtual_size(footer: VhdFooter, name: str) -> None:
    """Refuse a virtual size that is not whole MiB, under 20 MiB or over 2 TiB."""
    virtual = footer.current_size
    if virtual % MIB:
        whole = max(-(-virtual // MIB), MIN_SIZE // MIB)
        fix = _resize_fix(name, whole)
        hint = ""
        if footer.creator_app == b"qemu":
            hint = " (qemu-img rounded it to a CHS geometry; pass force_size=on)"
        raise VhdError(
            f"virtual size {_mib(virtual)} MiB is not a whole number of MiB{hint}; "
            f"pass --resize to `imagerelay upload` to grow it to {whole} MiB, or "
            f"resize it with `{fix}`"
        )
    if virtual < MIN_SIZE:
        fix = _resize_fix(name, MIN_SIZE // MIB)
        raise VhdError(
            f"virtual size {_mib(virtual)} MiB is under Azure's minimum of "
            f"{MIN_SIZE // MIB} MiB; grow it with `{fix}`"
        )
    if virtual > MAX_SIZE:
        raise VhdError(
            f"virtual size {_mib(virtual)} MiB is over Azure's OS disk maximum of "
            f"{MAX_SIZE // MIB} MiB (2 TiB); shrink the filesystem and partitions, "
            "then the disk with `qemu-img resize --shrink -f raw` on a raw copy"
        )


def as_fixed_footer(raw: bytes) -> bytes:
    """The same footer turned fixed: disk type 2, no data offset, checksum redone."""
    fixed = bytearray(raw)
    struct.pack_into(">Q", fixed, 16, NO_DATA_OFFSET)
    struct.pack_into(">I", fixed, 60, FIXED)
    struct.pack_into(">I", fixed, _CHECKSUM_AT, footer_checksum(bytes(fixed)))
    return bytes(fixed)
