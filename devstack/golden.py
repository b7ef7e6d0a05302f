"""Build the demo's golden disk: MBR, one ext4 partition with a few files, fixed VHD."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
PARTITION_START = MIB
FS_UUID = "5f1c0de0-6a1d-4e1a-9b1e-0d15c0de0001"
DISK_ID = "0x1e1a9b1e"
# 2026-01-01T00:00:00Z, so the filesystem's timestamps do not change between builds.
BUILD_TIME = 1_767_225_600

# Debian package that provides each tool the build runs.
PACKAGES = {"sfdisk": "fdisk", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}

OS_RELEASE = """\
PRETTY_NAME="imagerelay demo golden image"
NAME="imagerelay-demo"
VERSION_ID="1"
ID=imagerelay-demo
ID_LIKE=debian
"""

README = """\
This disk was built by devstack.golden for the imagerelay demo.
It holds one MBR partition with an ext4 filesystem and boots nothing.
"""


class GoldenError(RuntimeError):
    """The golden disk could not be built; the message says why and what to do."""


def _tool(name: str) -> str:
    """The path of a build tool (sbin included), or an error naming its package."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        raise GoldenError(
            f"`{name}` is not installed; install it with "
            f"`sudo apt-get install {PACKAGES[name]}`"
        )
    return found


def _run(*args: str, stdin: str | None = None) -> None:
    """Run one tool, raising GoldenError with its stderr if it fails."""
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": str(BUILD_TIME), "LC_ALL": "C"}
    done = subprocess.run(
        args, input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise GoldenError(
            f"`{' '.join(args)}` failed with exit code {done.returncode}: "
            f"{done.stderr.strip()}"
        )


def _demo_bytes(size: int) -> bytes:
    """Deterministic, incompressible bytes, so the disk has some dense data."""
    blocks = (hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(size // 32))
    return b"".join(blocks)


def _write_tree(root: Path) -> None:
    """Lay out the files the golden filesystem holds."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(OS_RELEASE)
    (root / "etc" / "hostname").write_text("golden\n")
    (root / "README").write_text(README)
    (root / "opt" / "demo").mkdir(parents=True)
    (root / "opt" / "demo" / "payload.bin").write_bytes(_demo_bytes(256 * 1024))
    for path in [root, *root.rglob("*")]:
        os.utime(path, (BUILD_TIME, BUILD_TIME))


def build_golden_vhd(dest: Path, size_mib: int = 64) -> Path:
    """Build a fixed VHD of `size_mib` MiB holding an MBR and one ext4 partition."""
    if size_mib < 20:
        raise GoldenError(f"size {size_mib} MiB is under Azure's minimum of 20 MiB")
    sfdisk, mkfs, qemu_img = (_tool(name) for name in PACKAGES)
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Building golden VHD %s (%d MiB)", dest, size_mib)

    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".golden-") as work:
        raw = Path(work) / "disk.raw"
        with raw.open("wb") as file:
            file.truncate(size_mib * MIB)

        start = PARTITION_START // 512
        table = f"label: dos\nlabel-id: {DISK_ID}\nstart={start}, type=83\n"
        _run(sfdisk, "--quiet", str(raw), stdin=table)

        tree = Path(work) / "root"
        _write_tree(tree)
        fs_kib = (size_mib * MIB - PARTITION_START) // 1024
        _run(
            mkfs,
            "-q",
            "-F",
            "-b",
            "4096",
            "-L",
            "golden",
            "-U",
            FS_UUID,
            "-d",
            str(tree),
            "-E",
            f"offset={PARTITION_START},hash_seed={FS_UUID},root_owner=0:0",
            str(raw),
            f"{fs_kib}k",
        )

        _run(
            qemu_img,
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            "subformat=fixed,force_size=on",
            str(raw),
            str(dest),
        )

    logger.info("Built golden VHD %s", dest)
    return dest


def main(argv: list[str] | None = None) -> None:
    """Build a golden VHD from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.golden", description=build_golden_vhd.__doc__
    )
    parser.add_argument("dest", type=Path, help="where to write the .vhd")
    parser.add_argument("--size-mib", type=int, default=64, help="virtual size")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        build_golden_vhd(args.dest, args.size_mib)
    except GoldenError as exc:
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()
