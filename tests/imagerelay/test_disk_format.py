"""Telling disk files apart, and reading them as the fixed VHD they upload as."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from imagerelay.disk_format import (
    Container,
    PartitionStyle,
    check_upload,
    raw_virtual_size,
    read_disk,
)
from imagerelay.extents import DynamicFile, RawFile, fixed_vhd_md5, open_source
from imagerelay.vhd import FIXED, FOOTER_SIZE, MIB, VhdError, parse_footer
from tests.imagerelay.disks import (
    differencing_vhd,
    dynamic_vhd,
    qemu_raw,
    raw_disk,
    raw_with_data,
    run,
)

OFFSETS = [0, 5 * MIB + 512, 33 * MIB + 4096, 40 * MIB - 70_000]


def test_raw_gpt_disk(tmp_path: Path) -> None:
    disk = read_disk(raw_disk(tmp_path / "disk.img", 20 * MIB, "gpt"))

    assert disk.container is Container.RAW
    assert disk.partition_style is PartitionStyle.GPT
    assert disk.virtual_size == 20 * MIB
    assert check_upload(disk) == "upload appends a footer (raw)"


def test_raw_mbr_disk_of_odd_size_rounds_up(tmp_path: Path) -> None:
    disk = read_disk(raw_disk(tmp_path / "disk.img", 20 * MIB + 1000, "dos"))

    assert disk.partition_style is PartitionStyle.MBR
    assert disk.virtual_size == 21 * MIB


def test_raw_disk_without_partitions(tmp_path: Path) -> None:
    path = tmp_path / "blank.img"
    run("truncate", "-s", "20M", str(path))

    assert read_disk(path).partition_style is PartitionStyle.NONE


def test_raw_virtual_size_never_rounds_down() -> None:
    assert raw_virtual_size(20 * MIB) == 20 * MIB
    assert raw_virtual_size(20 * MIB + 1) == 21 * MIB
    assert raw_virtual_size(21 * MIB - 1) == 21 * MIB


def test_small_raw_disk_is_refused_with_resize_fix(tmp_path: Path) -> None:
    disk = read_disk(raw_disk(tmp_path / "small.img", 19 * MIB))

    with pytest.raises(VhdError, match=r"under Azure's minimum.*resize -f raw"):
        check_upload(disk)


def test_dynamic_vhd_reads_as_qemu_reads_it(tmp_path: Path) -> None:
    raw = raw_with_data(tmp_path / "data.raw", 40, OFFSETS)
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)

    disk, source = open_source(path)

    assert disk.container is Container.DYNAMIC_VHD
    assert disk.virtual_size == 40 * MIB
    assert disk.allocated == 4 * 2 * MIB
    assert isinstance(source, DynamicFile)
    footer = parse_footer(source.footer())
    assert footer.disk_type == FIXED
    assert footer.current_size == 40 * MIB
    assert footer.data_offset == 0xFFFF_FFFF_FFFF_FFFF
    expected = hashlib.md5(qemu_raw(path, tmp_path / "back.raw") + source.footer())
    assert fixed_vhd_md5(source, chunk_size=MIB) == expected.digest()
    assert check_upload(disk) == "upload converts it (dynamic VHD → fixed)"


def test_dynamic_vhd_partition_style_is_read_through_its_blocks(
    tmp_path: Path,
) -> None:
    raw = raw_disk(tmp_path / "disk.img", 30 * MIB, "gpt")
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)

    assert read_disk(path).partition_style is PartitionStyle.GPT


def test_dynamic_vhd_of_chs_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chs.vhd"
    run("qemu-img", "create", "-q", "-f", "vpc", str(path), "30M")

    with pytest.raises(VhdError, match="force_size=on"):
        check_upload(read_disk(path))


def test_dynamic_vhd_with_a_cut_block_is_truncated(tmp_path: Path) -> None:
    raw = raw_with_data(tmp_path / "data.raw", 24, [23 * MIB])
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)
    footer = path.read_bytes()[-FOOTER_SIZE:]
    os.truncate(path, path.stat().st_size - FOOTER_SIZE - MIB)
    with path.open("ab") as file:
        file.write(footer)

    with pytest.raises(VhdError, match=r"block 11 .*truncated"):
        read_disk(path)


def test_raw_md5_covers_padding_and_footer(tmp_path: Path) -> None:
    path = raw_with_data(tmp_path / "odd.img", 20, [0])
    with path.open("ab") as file:
        file.write(os.urandom(1000))

    _, source = open_source(path)

    assert isinstance(source, RawFile)
    assert source.virtual_size == 21 * MIB
    blob = path.read_bytes().ljust(21 * MIB, b"\0") + source.footer()
    assert fixed_vhd_md5(source) == hashlib.md5(blob).digest()
    assert source.footer() == source.footer()


def test_differencing_vhd_is_refused(tmp_path: Path) -> None:
    disk = read_disk(differencing_vhd(tmp_path / "child.vhd", 30))

    assert disk.container is Container.DIFFERENCING_VHD
    assert disk.allocated == 0
    with pytest.raises(VhdError, match=r"differencing VHD.*Convert-VHD"):
        check_upload(disk)


@pytest.mark.parametrize("fmt", ["qcow2", "vhdx", "vmdk"])
def test_other_formats_are_named_and_refused_without_qemu_img(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"disk.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, str(path), "30M")
    monkeypatch.setenv("PATH", str(tmp_path))

    disk = read_disk(path)

    assert disk.container.value.lower() == fmt
    assert disk.virtual_size in (30 * MIB, None)
    with pytest.raises(VhdError, match=f"qemu-img convert -f {fmt} -O vpc"):
        check_upload(disk)


def test_truncated_dynamic_vhd_is_still_refused(tmp_path: Path) -> None:
    path = dynamic_vhd(tmp_path / "disk.vhd", raw_with_data(tmp_path / "r", 20, [0]))
    os.truncate(path, path.stat().st_size - FOOTER_SIZE)

    with pytest.raises(VhdError, match=r"starts with a VHD header.*truncated"):
        read_disk(path)


def test_a_fixed_vhd_cut_short_is_not_taken_for_a_raw_disk(tmp_path: Path) -> None:
    path = tmp_path / "golden.vhd"
    run(
        "qemu-img", "create", "-q", "-f", "vpc",
        "-o", "subformat=fixed,force_size=on", str(path), "24M",
    )  # fmt: skip
    os.truncate(path, path.stat().st_size - FOOTER_SIZE)

    with pytest.raises(VhdError, match=r"named \.vhd but has no VHD footer"):
        check_upload(read_disk(path))

    renamed = path.rename(tmp_path / "golden.raw")
    assert read_disk(renamed).container is Container.RAW
