"""VHDX, qcow2 and VMDK images made uploadable by qemu-img, when it is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagerelay.disk_format import QEMU_FORMATS, DiskFile
from imagerelay.vhd import VhdError, convert_fix


def needs_qemu(disk: DiskFile) -> bool:
    return disk.container in QEMU_FORMATS


def qemu_img() -> str | None:
    return shutil.which("qemu-img")


@contextmanager
def converted_to_raw(disk: DiskFile) -> Iterator[Path]:
    """The disk converted to a sparse raw file in a temporary folder, then deleted.

    The raw file keeps the original's name stem and modification time, so the fixed
    VHD it uploads as (and its MD5) is the same every time the same file is converted.
    """
    fmt = QEMU_FORMATS[disk.container]
    qemu = qemu_img()
    if qemu is None:
        fix = convert_fix(fmt, disk.path.name, f"{disk.path.stem}.vhd")
        raise VhdError(
            f"{disk.path.name} is a {disk.container.value} image and qemu-img, which "
            "converts it, is not installed; install qemu-utils, or convert it "
            f"elsewhere with `{fix}` and upload the result"
        )
    with tempfile.TemporaryDirectory(prefix="imagerelay-convert-") as folder:
        raw = Path(folder) / f"{disk.path.stem}.raw"
        result = subprocess.run(
            [qemu, "convert", "-f", fmt, "-O", "raw", str(disk.path), str(raw)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise VhdError(
                f"qemu-img could not convert {disk.path.name} from {fmt}: "
                f"{result.stderr.strip() or 'no reason given'}; check the file"
            )
        stat = disk.path.stat()
        os.utime(raw, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        yield raw
