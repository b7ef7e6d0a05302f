"""The rules a VHD file must meet before Azure makes an image of it.

The footer format lives in vhd_footer and is re-exported here, where callers look.
"""

from __future__ import annotations

import stat
from pathlib import Path

from imagerelay.vhd_fixes import convert_fix, resize_fix
from imagerelay.vhd_footer import (
    COOKIE,
    DIFFERENCING,
    DISK_TYPES,
    DYNAMIC,
    FEATURES_RESERVED,
    FIXED,
    FOOTER_SIZE,
    FORMAT_VERSION,
    MIB,
    NO_DATA_OFFSET,
    VHD_EPOCH,
    VhdError,
    VhdFooter,
    as_fixed_footer,
    build_footer,
    chs_geometry,
    footer_checksum,
    parse_footer,
)

__all__ = [
    "COOKIE",
    "DIFFERENCING",
    "DISK_TYPES",
    "DYNAMIC",
    "FEATURES_RESERVED",
    "FIXED",
    "FOOTER_SIZE",
    "FORMAT_VERSION",
    "MAX_SIZE",
    "MIB",
    "MIN_SIZE",
    "NO_DATA_OFFSET",
    "VHD_EPOCH",
    "VhdError",
    "VhdFooter",
    "as_fixed_footer",
    "build_footer",
    "check_for_azure",
    "check_virtual_size",
    "chs_geometry",
    "convert_fix",
    "footer_checksum",
    "inspect_vhd",
    "parse_footer",
    "read_ends",
]

MIN_SIZE = 20 * MIB
MAX_SIZE = 2 * 1024 * 1024 * MIB


def _mib(size: int) -> str:
    """A byte count in MiB, without a trailing .0 for whole numbers."""
    return f"{size / MIB:g}" if size % MIB == 0 else f"{size / MIB:.6g}"


def _refuse_other_format(path: Path, head: bytes) -> None:
    """Refuse VHDX and qcow2 files, which Azure does not take, naming the fix."""
    for magic, fmt in ((b"vhdxfile", "vhdx"), (b"QFI\xfb", "qcow2")):
        if head.startswith(magic):
            fix = convert_fix(fmt, path.name, f"{path.stem}.vhd")
            raise VhdError(
                f"{path.name} is a {fmt.upper()} image, and Azure takes only fixed "
                f"VHDs; convert it with `{fix}`"
            )


def read_ends(path: Path) -> tuple[int, bytes, bytes]:
    """The file's size, first 512 bytes and last 512 bytes, with friendly errors."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            # Opening a FIFO blocks until a writer comes; a device reports size 0.
            raise VhdError(
                f"{path} is not a regular file (a pipe, socket or device); copy "
                "the disk into a file first, e.g. `dd if=DEVICE of=disk.raw`"
            )
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
        fix = convert_fix("raw", path.name, dst)
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
        fix = convert_fix("vpc", name, f"{stem}-fixed.vhd")
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
        fix = resize_fix(name, whole)
        hint = ""
        if footer.creator_app == b"qemu":
            hint = " (qemu-img rounded it to a CHS geometry; pass force_size=on)"
        raise VhdError(
            f"{name}: virtual size {_mib(virtual)} MiB is not a whole number of MiB"
            f"{hint}; "
            f"pass --resize to `imagerelay upload` to grow it to {whole} MiB, or "
            f"resize it with `{fix}`"
        )
    if virtual < MIN_SIZE:
        fix = resize_fix(name, MIN_SIZE // MIB)
        raise VhdError(
            f"{name}: virtual size {_mib(virtual)} MiB is under Azure's minimum of "
            f"{MIN_SIZE // MIB} MiB; grow it with `{fix}`"
        )
    if virtual > MAX_SIZE:
        raise VhdError(
            f"{name}: virtual size {_mib(virtual)} MiB is over Azure's OS disk maximum "
            "of "
            f"{MAX_SIZE // MIB} MiB (2 TiB); shrink the filesystem and partitions, "
            "then the disk with `qemu-img resize --shrink -f raw` on a raw copy"
        )
