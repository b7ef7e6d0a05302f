"""Disk files for tests, made by qemu-img, sfdisk and by hand from the VHD spec."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

from imagerelay.vhd import DIFFERENCING, MIB, build_footer, footer_checksum


def run(*command: str) -> str:
    """Run a tool and return its stdout."""
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout


def raw_disk(path: Path, size: int, label: str = "gpt") -> Path:
    """A sparse raw disk of `size` bytes with one Linux partition, by sfdisk."""
    run("truncate", "-s", str(size), str(path))
    subprocess.run(
        ["sfdisk", "-q", str(path)],
        input=f"label: {label}\n,,L\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return path


def raw_with_data(path: Path, mib: int, offsets: list[int]) -> Path:
    """A sparse raw disk of `mib` MiB with 70,000 random bytes at each offset."""
    with path.open("wb") as file:
        file.truncate(mib * MIB)
        for offset in offsets:
            file.seek(offset)
            file.write(os.urandom(70_000))
    return path


def dynamic_vhd(path: Path, raw: Path) -> Path:
    """A dynamic VHD of the raw disk, by qemu-img (dynamic is its default)."""
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "force_size=on",
        str(raw), str(path))  # fmt: skip
    return path


def qemu_raw(vhd: Path, raw: Path) -> bytes:
    """The disk's bytes as qemu-img reads them."""
    run("qemu-img", "convert", "-f", "vpc", "-O", "raw", str(vhd), str(raw))
    return raw.read_bytes()


def differencing_vhd(path: Path, mib: int) -> Path:
    """A differencing VHD with no blocks of its own, built from the specification."""
    block = 2 * MIB
    entries = -(-mib * MIB // block)
    footer = bytearray(build_footer(mib * MIB))
    struct.pack_into(">Q", footer, 16, 512)
    struct.pack_into(">I", footer, 60, DIFFERENCING)
    struct.pack_into(">I", footer, 64, footer_checksum(bytes(footer)))

    header = bytearray(1024)
    struct.pack_into(
        ">8sQQIII", header, 0, b"cxsparse", 2**64 - 1, 1536, 0x00010000, entries, block
    )
    checksum = ~(sum(header)) & 0xFFFF_FFFF
    struct.pack_into(">I", header, 36, checksum)
    table = b"\xff" * (4 * entries)
    table += bytes(-len(table) % 512)
    path.write_bytes(bytes(footer) + bytes(header) + table + bytes(footer))
    return path
