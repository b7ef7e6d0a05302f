"""`imagerelay vhd inspect` on files made by qemu-img, sfdisk and by hand."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagerelay.cli import app
from imagerelay.vhd import MIB
from tests.imagerelay.disks import (
    differencing_vhd,
    dynamic_vhd,
    raw_disk,
    raw_with_data,
    run,
)

runner = CliRunner()


def inspect(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["vhd", "inspect", str(path)])
    return result.exit_code, result.output


def test_fixed_vhd_with_gpt(tmp_path: Path) -> None:
    raw = raw_disk(tmp_path / "disk.img", 24 * MIB, "gpt")
    path = tmp_path / "disk.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc",
        "-o", "subformat=fixed,force_size=on", str(raw), str(path))  # fmt: skip

    code, output = inspect(path)

    assert code == 0, output
    assert "format:       fixed VHD" in output
    assert "virtual size: 25,165,824 bytes (24.00 MiB)" in output
    assert "GPT (suggests Hyper-V generation V2)" in output
    assert "upload as is" in output


def test_dynamic_vhd(tmp_path: Path) -> None:
    raw = raw_with_data(tmp_path / "data.raw", 40, [0, 21 * MIB])
    path = dynamic_vhd(tmp_path / "disk.vhd", raw)

    code, output = inspect(path)

    assert code == 0, output
    assert "format:       dynamic VHD" in output
    assert "allocated:    4,194,304 bytes (4.00 MiB)" in output
    assert "partitions:   none" in output
    assert "upload converts it (dynamic VHD → fixed)" in output


def test_raw_mbr_disk_of_odd_size(tmp_path: Path) -> None:
    code, output = inspect(raw_disk(tmp_path / "disk.img", 20 * MIB + 1000, "dos"))

    assert code == 0, output
    assert "format:       raw disk" in output
    assert "virtual size: 22,020,096 bytes (21.00 MiB)" in output
    assert "MBR (suggests V1)" in output
    assert "upload appends a footer (raw)" in output


def test_small_raw_disk_is_refused(tmp_path: Path) -> None:
    code, output = inspect(raw_disk(tmp_path / "small.img", 10 * MIB, "gpt"))

    assert code == 2
    assert "GPT (suggests Hyper-V generation V2)" in output
    assert "azure:        refused" in output
    assert "under Azure's minimum of 20 MiB" in output


@pytest.mark.parametrize("fmt, name", [("vhdx", "VHDX"), ("qcow2", "qcow2")])
def test_other_formats_over_2_tib_are_refused_before_conversion(
    tmp_path: Path, fmt: str, name: str
) -> None:
    path = tmp_path / f"big.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, str(path), "3T")

    code, output = inspect(path)

    assert code == 2
    assert "virtual size: 3,298,534,883,328 bytes" in output
    assert f"big.{fmt} is a {name} image of 3,145,728 MiB, over Azure's OS disk" in (
        output
    )


@pytest.mark.parametrize(
    "fmt, options, name",
    [("qcow2", [], "qcow2"), ("vmdk", [], "VMDK"), ("vdi", [], "VDI"),
     ("qed", [], "QED"), ("vmdk", ["-o", "subformat=monolithicFlat"], "VMDK")],
)  # fmt: skip
def test_other_formats_convert_with_qemu_img(
    tmp_path: Path, fmt: str, options: list[str], name: str
) -> None:
    path = tmp_path / f"disk.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, *options, str(path), "30M")

    code, output = inspect(path)

    assert code == 0, output
    assert f"format:       {name}" in output
    assert "virtual size: 31,457,280 bytes" in output
    assert f"upload converts it with qemu-img ({fmt} → raw → fixed VHD)" in output


@pytest.mark.parametrize(
    "tool, suffix, what, fix",
    [(["gzip", "-k"], ".gz", "gzip-compressed", "gunzip -k"),
     (["xz", "-k", "-T1"], ".xz", "xz-compressed", "xz -dk")],
)  # fmt: skip
def test_a_compressed_or_archived_disk_is_refused_naming_the_tool(
    tmp_path: Path, tool: list[str], suffix: str, what: str, fix: str
) -> None:
    raw = raw_disk(tmp_path / "my disk.raw", 24 * MIB, "gpt")
    run(*tool, str(raw))
    packed = raw.with_name(raw.name + suffix)
    run("tar", "-cf", str(tmp_path / "disk.ova"), "-C", str(tmp_path), raw.name)

    code, output = inspect(packed)
    assert code == 2
    assert f"is {what}, not a disk image; decompress it with `{fix} 'my disk.raw" in (
        output
    )
    code, output = inspect(tmp_path / "disk.ova")
    assert code == 2
    assert "disk.ova is a tar archive (an OVA?), not a disk image" in output


def test_a_damaged_vhdx_is_named_by_what_qemu_img_says(tmp_path: Path) -> None:
    path = tmp_path / "broken.vhdx"
    run("qemu-img", "create", "-q", "-f", "vhdx", str(path), "30M")
    with path.open("r+b") as file:
        file.seek(64 * 1024)
        file.write(bytes(128 * 1024))  # both headers

    code, output = inspect(path)

    assert code == 2
    assert "broken.vhdx starts like a VHDX image but qemu-img cannot read it" in (
        output
    )


@pytest.mark.parametrize("fmt, name", [("qcow2", "qcow2"), ("vmdk", "VMDK")])
def test_other_formats_are_refused_without_qemu_img(
    tmp_path: Path, fmt: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"disk.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, str(path), "30M")
    monkeypatch.setenv("PATH", str(tmp_path))

    code, output = inspect(path)

    assert code == 2
    assert f"format:       {name}" in output
    assert "partitions:   unknown" in output
    assert f"qemu-img convert -f {fmt} -O vpc" in output


def test_differencing_vhd_is_refused(tmp_path: Path) -> None:
    code, output = inspect(differencing_vhd(tmp_path / "child.vhd", 30))

    assert code == 2
    assert "format:       differencing VHD" in output
    assert "Convert-VHD" in output


def test_truncated_vhd_is_one_line_error(tmp_path: Path) -> None:
    path = dynamic_vhd(tmp_path / "disk.vhd", raw_with_data(tmp_path / "r", 20, [0]))
    path.write_bytes(path.read_bytes()[:-1024])

    code, output = inspect(path)

    assert code == 2
    assert output.strip().count("\n") == 0
    assert "truncated" in output


def test_sparse_raw_disk_shows_its_data_as_allocated(tmp_path: Path) -> None:
    path = tmp_path / "sparse.img"
    run("truncate", "-s", "64M", str(path))
    run("dd", "if=/dev/urandom", f"of={path}", "bs=1M", "count=2", "seek=10",
        "conv=notrunc", "status=none")  # fmt: skip

    code, output = inspect(path)

    assert code == 0, output
    assert "file size:    67,108,864 bytes (64.00 MiB)" in output
    assert "allocated:    2,097,152 bytes (2.00 MiB)" in output


def test_damaged_block_table_is_one_line_naming_the_damage(tmp_path: Path) -> None:
    path = dynamic_vhd(tmp_path / "disk.vhd", raw_with_data(tmp_path / "r", 20, [0]))
    content = bytearray(path.read_bytes())
    table = int.from_bytes(content[512 + 16 : 512 + 24], "big")
    content[table : table + 4] = (0x0FFF_0000).to_bytes(4, "big")
    path.write_bytes(bytes(content))

    code, output = inspect(path)

    assert code == 2
    assert output.strip().count("\n") == 0
    assert "block allocation table is damaged" in output
    assert "truncated" not in output


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    os.mkfifo(path)
    inspected: list[tuple[int, str]] = []
    reader = threading.Thread(target=lambda: inspected.append(inspect(path)))
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():
        with path.open("wb"):  # release the blocked open so the test can end
            pass
        reader.join()

    assert inspected, "inspect blocked on the FIFO"
    code, output = inspected[0]
    assert code == 2
    assert "not a regular file" in output
