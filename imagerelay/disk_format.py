"""What a disk file is: container, sizes, partition style, and Azure's verdict."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import struct
import subprocess
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from imagerelay.dynamic_vhd import SECTOR, BlockTable, read_block_table
from imagerelay.vhd import (
    COOKIE,
    DIFFERENCING,
    DYNAMIC,
    FIXED,
    FOOTER_SIZE,
    MAX_SIZE,
    MIB,
    MIN_SIZE,
    VhdError,
    VhdFooter,
    check_for_azure,
    check_virtual_size,
    convert_fix,
    parse_footer,
    read_ends,
)


class Container(StrEnum):
    """The container format of a disk file."""

    FIXED_VHD = "fixed VHD"
    DYNAMIC_VHD = "dynamic VHD"
    DIFFERENCING_VHD = "differencing VHD"
    RAW = "raw disk"
    VHDX = "VHDX"
    QCOW2 = "qcow2"
    VMDK = "VMDK"
    VDI = "VDI"
    QED = "QED"


class PartitionStyle(StrEnum):
    """The partition table found in the disk's first two sectors."""

    GPT = "GPT"
    MBR = "MBR"
    NONE = "none"
    UNKNOWN = "unknown"


QEMU_FORMATS = {
    Container.VHDX: "vhdx",
    Container.QCOW2: "qcow2",
    Container.VMDK: "vmdk",
    Container.VDI: "vdi",
    Container.QED: "qed",
}

_MAGICS = (
    (b"vhdxfile", Container.VHDX),
    (b"QFI\xfb", Container.QCOW2),
    (b"KDMV", Container.VMDK),
    (b"# Disk DescriptorFile", Container.VMDK),  # qemu-img follows its extents
    (b"QED\x00", Container.QED),
)
VDI_SIGNATURE = (64, b"\x7f\x10\xda\xbe")
# Files that are not disk images at all: (offset, magic, what it is, the fix).
_NOT_DISKS = (
    (0, b"\x1f\x8b", "gzip-compressed", "decompress it with `gunzip -k {q}`"),
    (0, b"\xfd7zXZ\x00", "xz-compressed", "decompress it with `xz -dk {q}`"),
    (0, b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it with `zstd -d {q}`"),
    (0, b"BZh", "bzip2-compressed", "decompress it with `bunzip2 -k {q}`"),
    (0, b"PK\x03\x04", "a zip archive", "extract the disk with `unzip {q}`"),
    (257, b"ustar", "a tar archive (an OVA?)", "extract the disk with `tar xf {q}`"),
)
_ACTIONS = {
    Container.FIXED_VHD: "upload as is",
    Container.DYNAMIC_VHD: "upload converts it (dynamic VHD → fixed)",
    Container.RAW: "upload appends a footer (raw)",
}


@dataclass(frozen=True)
class DiskFile:
    """A disk file as read from its ends, its VHD structures and its first sectors."""

    path: Path
    container: Container
    file_size: int
    virtual_size: int | None
    allocated: int | None
    partition_style: PartitionStyle
    footer: VhdFooter | None = None
    blocks: BlockTable | None = None

    @property
    def generation_hint(self) -> str:
        """The Hyper-V generation the partition style suggests, as a phrase."""
        if self.partition_style is PartitionStyle.GPT:
            return "GPT (suggests Hyper-V generation V2)"
        if self.partition_style is PartitionStyle.MBR:
            return "MBR (suggests V1)"
        if self.partition_style is PartitionStyle.NONE:
            return "none (an OS disk without a partition table rarely boots)"
        return str(self.partition_style)


def _named(exc: VhdError, path: Path) -> VhdError:
    """The error with the file's name in front, unless it names the file already."""
    text = str(exc)
    return VhdError(text if path.name in text else f"{path.name}: {text}")


def raw_virtual_size(file_size: int) -> int:
    """A raw disk's virtual size: its length rounded up to a whole MiB."""
    return -(-file_size // MIB) * MIB


def data_bytes(path: Path, end: int) -> int:
    """Bytes below `end` the file holds as data, not holes: what it takes on disk.

    Walks the data extents with SEEK_DATA / SEEK_HOLE; where the system has no such
    seek, falls back to the blocks the file occupies.
    """
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return min(path.stat().st_blocks * 512, end)
    total = 0
    with path.open("rb") as file:
        offset = 0
        while offset < end:
            try:
                start = os.lseek(file.fileno(), offset, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                return min(path.stat().st_blocks * 512, end)
            if start >= end:
                break
            offset = os.lseek(file.fileno(), start, seek_hole)
            total += min(offset, end) - start
    return total


def partition_style(first_sectors: bytes) -> PartitionStyle:
    """GPT, MBR or none, from the disk's LBA 0 and LBA 1."""
    if len(first_sectors) < SECTOR or first_sectors[510:512] != b"\x55\xaa":
        return PartitionStyle.NONE
    types = [first_sectors[446 + 16 * n + 4] for n in range(4)]
    if 0xEE in types and first_sectors[SECTOR : SECTOR + 8] == b"EFI PART":
        return PartitionStyle.GPT
    return PartitionStyle.MBR


def _first_sectors(path: Path, blocks: BlockTable | None) -> bytes:
    """The disk's first two sectors, read through the block table if there is one."""
    start = 0
    if blocks is not None:
        first = next(blocks.allocated(), None)
        if first is None or first[0] != 0:
            return b""
        start = first[1]
    with path.open("rb") as file:
        file.seek(start)
        return file.read(2 * SECTOR)


def qemu_sizes(path: Path, container: Container) -> tuple[int | None, int | None]:
    """Virtual size and bytes allocated as `qemu-img info` reads them, or None."""
    qemu = shutil.which("qemu-img")
    if qemu is None:
        return None, None
    fmt = QEMU_FORMATS[container]
    result = subprocess.run(
        [qemu, "info", "--output=json", "-f", fmt, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or ["no reason given"]
        raise VhdError(
            f"{path.name} starts like a {container.value} image but qemu-img cannot "
            f"read it ({reason[0]}); the file is damaged, copy it again"
        )
    info = json.loads(result.stdout)
    actual = info.get("actual-size")
    return int(info["virtual-size"]), int(actual) if actual is not None else None


def _other_format(path: Path, container: Container, head: bytes) -> DiskFile:
    """A VHDX, qcow2 or VMDK file, with its virtual size from qemu-img or its header.

    Without qemu-img, a VHDX's size (in a metadata region) is not read.
    """
    virtual, allocated = qemu_sizes(path, container)
    if virtual is None and container is Container.QCOW2 and len(head) >= 32:
        virtual = struct.unpack_from(">Q", head, 24)[0]
    elif virtual is None and head.startswith(b"KDMV") and len(head) >= 20:
        virtual = struct.unpack_from("<Q", head, 12)[0] * SECTOR
    return DiskFile(
        path,
        container,
        path.stat().st_size,
        virtual,
        allocated,
        PartitionStyle.UNKNOWN,
    )


def read_disk(path: Path) -> DiskFile:
    """Tell what a disk file is, refusing files too damaged to say."""
    size, head, tail = read_ends(path)
    if size == 0:
        raise VhdError(f"{path.name} is empty; the disk was not written or not copied")
    for magic, container in _MAGICS:
        if head.startswith(magic):
            return _other_format(path, container, head)
    offset, signature = VDI_SIGNATURE
    if head[offset : offset + len(signature)] == signature:
        return _other_format(path, Container.VDI, head)
    for offset, magic, what, fix in _NOT_DISKS:
        if head[offset : offset + len(magic)] == magic:
            raise VhdError(
                f"{path.name} is {what}, not a disk image; "
                f"{fix.format(q=shlex.quote(path.name))} and upload the disk inside"
            )

    if not tail.startswith(COOKIE):
        if head.startswith(COOKIE):
            raise VhdError(
                f"{path.name} starts with a VHD header but does not end with a VHD "
                "footer; the file is truncated, copy it again from its source"
            )
        # A fixed VHD cut short has no header copy either; check_upload refuses
        # footer-less files named .vhd, so such a copy is not taken as raw.
        style = partition_style(_first_sectors(path, None))
        allocated = data_bytes(path, size)
        virtual = raw_virtual_size(size)
        return DiskFile(path, Container.RAW, size, virtual, allocated, style)

    try:
        footer = parse_footer(tail)
    except VhdError as exc:
        raise _named(exc, path) from None
    blocks = None
    allocated = data_bytes(path, size - FOOTER_SIZE)
    container = Container.FIXED_VHD
    if footer.disk_type in (DYNAMIC, DIFFERENCING):
        try:
            blocks = read_block_table(path, footer)
        except VhdError as exc:
            raise _named(exc, path) from None
        allocated = blocks.allocated_blocks * blocks.header.block_size
        container = Container.DYNAMIC_VHD
        if footer.disk_type == DIFFERENCING:
            container = Container.DIFFERENCING_VHD
    elif footer.disk_type != FIXED:
        check_for_azure(footer, size, path.name)
    style = partition_style(_first_sectors(path, blocks))
    return DiskFile(
        path, container, size, footer.current_size, allocated, style, footer, blocks
    )


def check_upload(disk: DiskFile) -> str:
    """What the upload does with this disk, or a VhdError naming the fix."""
    name = disk.path.name
    if disk.container is Container.DIFFERENCING_VHD:
        merged = f"{disk.path.stem}-fixed.vhd"
        raise VhdError(
            f"{name} is a differencing VHD, which holds only changes to its parent "
            "disk; merge it into a standalone fixed VHD with Hyper-V's "
            f"`Convert-VHD -Path {name} -DestinationPath {merged} -VHDType Fixed` "
            "and upload that"
        )
    if disk.footer is not None:
        if disk.container is Container.DYNAMIC_VHD:
            check_virtual_size(disk.footer, name)
        else:
            check_for_azure(disk.footer, disk.file_size, name)
        return _ACTIONS[disk.container]

    if disk.container is not Container.RAW:
        fmt_name = QEMU_FORMATS[disk.container]
        if shutil.which("qemu-img"):
            if disk.virtual_size is not None:
                what = f"a {disk.container.value} image"
                _check_size(name, disk.virtual_size, what, fmt_name)
            return f"upload converts it with qemu-img ({fmt_name} → raw → fixed VHD)"
        fix = convert_fix(fmt_name, name, f"{disk.path.stem}.vhd")
        raise VhdError(
            f"{name} is a {disk.container.upper()} image, and Azure takes only "
            f"VHDs; install qemu-utils so upload converts it, or convert it with "
            f"`{fix}`"
        )

    if disk.path.suffix.lower() == ".vhd":
        raise VhdError(
            f"{name} is named .vhd but has no VHD footer in its last 512 bytes: it "
            "is a VHD copy cut short, or a raw disk with the wrong name. Copy the "
            "VHD again from its source; if it is a raw disk, rename it to .raw"
        )
    _check_size(name, raw_virtual_size(disk.file_size), "a raw disk", "raw")
    return _ACTIONS[Container.RAW]


def _check_size(name: str, virtual: int, what: str, fmt: str) -> None:
    """Refuse a disk converted or padded to `virtual` bytes that Azure won't take.

    qemu-img resizes raw disks only, reliably: other formats are converted first.
    """
    quoted = shlex.quote(name)
    raw = quoted
    first = ""
    if fmt != "raw":
        raw = shlex.quote(f"{Path(name).stem}.raw")
        first = f"qemu-img convert -f {fmt} -O raw {quoted} {raw} && "
    if virtual < MIN_SIZE:
        raise VhdError(
            f"{name} is {what} of {virtual} bytes, under Azure's minimum of "
            f"{MIN_SIZE // MIB} MiB; grow it with `{first}qemu-img resize -f raw "
            f"{raw} {MIN_SIZE // MIB}M` and upload {'it' if not first else raw}"
        )
    if virtual > MAX_SIZE:
        raise VhdError(
            f"{name} is {what} of {virtual // MIB:,} MiB, over Azure's OS disk "
            f"maximum of {MAX_SIZE // MIB:,} MiB (2 TiB); "
            + (f"convert it with `{first[:-4]}`, then " if first else "")
            + "shrink the filesystem and partitions to fit, then the disk with "
            f"`qemu-img resize --shrink -f raw {raw} 2T`"
        )
