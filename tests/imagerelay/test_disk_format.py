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


def _bat_entry_at(path: Path, block: int) -> int:
    """The file offset of a dynamic VHD's table entry for `block`."""
    footer = parse_footer(path.read_bytes()[-FOOTER_SIZE:])
    with path.open("rb") as file:
        file.seek(footer.data_offset + 16)
        table_offset = int.from_bytes(file.read(8), "big")
    return table_offset + 4 * block


@pytest.mark.parametrize(
    ("sector", "where"),
    [(0x00F0_0000, "past the end of the data"), (3, "inside the header or table")],
)
def test_a_damaged_table_entry_is_called_damaged_not_truncated(
    tmp_path: Path, sector: int, where: str
) -> None:
    raw = raw_with_data(tmp_path / "data.raw", 24, [0, 9 * MIB])
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)
    with path.open("r+b") as file:
        file.seek(_bat_entry_at(path, 0))
        file.write(sector.to_bytes(4, "big"))

    with pytest.raises(VhdError) as caught:
        read_disk(path)

    message = str(caught.value)
    assert "block allocation table is damaged" in message
    assert "entry for block 0" in message and where in message
    assert "truncated" not in message
    assert message.count("disk.vhd") == 1, message


def test_two_entries_for_the_same_data_are_a_damaged_table(tmp_path: Path) -> None:
    raw = raw_with_data(tmp_path / "data.raw", 24, [0, 9 * MIB])
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)
    with path.open("r+b") as file:
        file.seek(_bat_entry_at(path, 0))
        first = file.read(4)
        file.seek(_bat_entry_at(path, 4))
        file.write(first)

    with pytest.raises(VhdError, match=r"damaged: .* inside another block"):
        read_disk(path)


def test_a_sparse_raw_disk_reports_its_data_as_allocated(tmp_path: Path) -> None:
    path = raw_with_data(tmp_path / "sparse.raw", 64, [0, 30 * MIB])

    disk = read_disk(path)

    assert disk.file_size == 64 * MIB
    assert disk.allocated is not None
    assert 2 * 70_000 <= disk.allocated <= 2 * (70_000 + 64 * 1024)


def test_a_sparse_fixed_vhd_reports_its_data_as_allocated(tmp_path: Path) -> None:
    path = tmp_path / "sparse.vhd"
    run("qemu-img", "create", "-q", "-f", "vpc",
        "-o", "subformat=fixed,force_size=on", str(path), "40M")  # fmt: skip
    run("dd", "if=/dev/urandom", f"of={path}", "bs=1M", "count=3", "seek=5",
        "conv=notrunc", "status=none")  # fmt: skip

    disk = read_disk(path)

    assert disk.container is Container.FIXED_VHD
    assert disk.allocated is not None
    assert 3 * MIB <= disk.allocated <= 3 * MIB + 64 * 1024
