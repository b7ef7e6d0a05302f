"""VHD footer parsing and Azure's rules, checked against files qemu-img makes."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from imagerelay.vhd import (
    DIFFERENCING,
    FIXED,
    FOOTER_SIZE,
    MAX_SIZE,
    MIB,
    VhdError,
    build_footer,
    chs_geometry,
    footer_checksum,
    inspect_vhd,
    parse_footer,
)

FIXED_OPTS = "subformat=fixed,force_size=on"


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def qemu_img(*args: str) -> str:
    """Run qemu-img and return its stdout."""
    done = subprocess.run(
        ["qemu-img", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def create_fixed(path: Path, size: str) -> Path:
    """A fixed VHD of `size` (qemu-img syntax) made by qemu-img with force_size."""
    qemu_img("create", "-q", "-f", "vpc", "-o", FIXED_OPTS, str(path), size)
    return path


def vhd_from_raw(path: Path, virtual_size: int) -> Path:
    """A sparse raw disk of `virtual_size` bytes with build_footer appended."""
    with path.open("wb") as file:
        file.truncate(virtual_size)
        file.seek(virtual_size)
        file.write(build_footer(virtual_size))
    return path


def patch_footer(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one footer field in place and fix the checksum."""
    with path.open("r+b") as file:
        file.seek(-FOOTER_SIZE, os.SEEK_END)
        raw = bytearray(file.read())
        struct.pack_into(fmt, raw, offset, value)
        struct.pack_into(">I", raw, 64, footer_checksum(bytes(raw)))
        file.seek(-FOOTER_SIZE, os.SEEK_END)
        file.write(raw)


@pytest.mark.parametrize("size", ["20M", "64M", "1000M", "2G"])
def test_qemu_fixed_vhd_is_accepted(tmp_path: Path, size: str) -> None:
    path = create_fixed(tmp_path / "disk.vhd", size)

    footer = inspect_vhd(path)

    expected = int(size[:-1]) * (MIB if size.endswith("M") else 1024 * MIB)
    assert footer.cookie == b"conectix"
    assert footer.disk_type == FIXED
    assert footer.disk_type_name == "fixed"
    assert footer.current_size == expected
    assert path.stat().st_size == expected + FOOTER_SIZE
    assert footer.data_offset == 0xFFFF_FFFF_FFFF_FFFF
    assert footer.format_version == 0x00010000
    assert footer.creator_app == b"qem2"
    assert not footer.saved_state


def test_qemu_convert_of_raw_with_data(tmp_path: Path) -> None:
    raw = tmp_path / "disk.raw"
    payload = os.urandom(300_000)
    with raw.open("wb") as file:
        file.truncate(24 * MIB)
        file.write(payload)
        file.seek(17 * MIB + 4096)
        file.write(payload)
    vhd = tmp_path / "disk.vhd"
    qemu_img("convert", "-f", "raw", "-O", "vpc", "-o", FIXED_OPTS, str(raw), str(vhd))

    footer = inspect_vhd(vhd)

    assert footer.current_size == 24 * MIB
    with vhd.open("rb") as file:
        assert file.read(24 * MIB) == raw.read_bytes()


def test_non_whole_mib_size_is_refused_with_resize_fix(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "odd.vhd", "20.5M")

    with pytest.raises(VhdError) as caught:
        inspect_vhd(path)

    message = str(caught.value)
    assert "20.5 MiB is not a whole number of MiB" in message
    assert "qemu-img resize -f raw disk.raw 21M" in message


def test_qemu_chs_rounded_size_names_force_size(tmp_path: Path) -> None:
    path = tmp_path / "chs.vhd"
    qemu_img("create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(path), "30M")

    with pytest.raises(VhdError, match="force_size=on"):
        inspect_vhd(path)


def test_dynamic_vhd_is_refused_with_convert_fix(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    qemu_img("create", "-q", "-f", "vpc", str(path), "30M")

    with pytest.raises(VhdError) as caught:
        inspect_vhd(path)

    message = str(caught.value)
    assert "disk.vhd is a dynamic VHD" in message
    assert "qemu-img convert -f vpc -O vpc -o subformat=fixed,force_size=on" in message


def test_differencing_vhd_is_refused(tmp_path: Path) -> None:
    path = vhd_from_raw(tmp_path / "child.vhd", 20 * MIB)
    patch_footer(path, 60, ">I", DIFFERENCING)

    with pytest.raises(VhdError, match=r"differencing VHD.*subformat=fixed"):
        inspect_vhd(path)


@pytest.mark.parametrize("fmt", ["vhdx", "qcow2"])
def test_other_formats_are_refused_with_convert_fix(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"disk.{fmt}"
    qemu_img("create", "-q", "-f", fmt, str(path), "30M")

    with pytest.raises(VhdError) as caught:
        inspect_vhd(path)

    message = str(caught.value)
    assert f"is a {fmt.upper()} image" in message
    assert f"qemu-img convert -f {fmt} -O vpc" in message


def test_bad_cookie_is_refused(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "disk.vhd", "20M")
    with path.open("r+b") as file:
        file.seek(-FOOTER_SIZE, os.SEEK_END)
        file.write(b"notavhd!")

    with pytest.raises(VhdError, match=r"no VHD footer.*qemu-img convert -f raw"):
        inspect_vhd(path)


def test_bad_checksum_is_refused(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "disk.vhd", "20M")
    with path.open("r+b") as file:
        file.seek(-FOOTER_SIZE + 70, os.SEEK_END)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 0x01]))

    with pytest.raises(VhdError, match=r"checksum.*damaged"):
        inspect_vhd(path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "disk.vhd", "20M")
    os.truncate(path, 20 * MIB - 4096)

    with pytest.raises(VhdError, match="truncated copy"):
        inspect_vhd(path)


def test_file_cut_short_before_its_footer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.vhd"
    with path.open("wb") as file:
        file.truncate(10 * MIB)
        file.seek(10 * MIB)
        file.write(build_footer(20 * MIB))

    with pytest.raises(VhdError, match="should be 20972032 bytes"):
        inspect_vhd(path)


def test_footer_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "footer.vhd"
    path.write_bytes(build_footer(20 * MIB))

    with pytest.raises(VhdError, match="is 512 bytes but its footer says"):
        inspect_vhd(path)


def test_dynamic_vhd_cut_short_is_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    qemu_img("create", "-q", "-f", "vpc", str(path), "30M")
    os.truncate(path, path.stat().st_size - 1024)

    with pytest.raises(VhdError, match=r"starts with a VHD header.*truncated"):
        inspect_vhd(path)


def test_under_20_mib_is_refused(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "small.vhd", "10M")

    with pytest.raises(VhdError, match=r"under Azure's minimum of 20 MiB.*20M"):
        inspect_vhd(path)


def test_over_2_tib_is_refused(tmp_path: Path) -> None:
    try:
        path = vhd_from_raw(tmp_path / "huge.vhd", MAX_SIZE + MIB)
    except OSError as exc:
        pytest.skip(f"this filesystem cannot hold a 2 TiB sparse file: {exc}")

    with pytest.raises(VhdError, match="over Azure's OS disk maximum"):
        inspect_vhd(path)


def test_exactly_2_tib_is_accepted(tmp_path: Path) -> None:
    try:
        path = vhd_from_raw(tmp_path / "max.vhd", MAX_SIZE)
    except OSError as exc:
        pytest.skip(f"this filesystem cannot hold a 2 TiB sparse file: {exc}")

    assert inspect_vhd(path).current_size == MAX_SIZE


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.vhd"
    path.touch()

    with pytest.raises(VhdError, match="empty"):
        inspect_vhd(path)


def test_file_shorter_than_a_footer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.vhd"
    path.write_bytes(b"conectix" + bytes(100))

    with pytest.raises(VhdError, match="shorter than a 512-byte VHD footer"):
        inspect_vhd(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VhdError, match="is a directory"):
        inspect_vhd(tmp_path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VhdError, match="does not exist"):
        inspect_vhd(tmp_path / "nope.vhd")


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = create_fixed(tmp_path / "locked.vhd", "20M")
    path.chmod(0)
    tmp_path.chmod(0o755)
    check = (
        "import sys; from pathlib import Path; from imagerelay.vhd import *\n"
        "try: inspect_vhd(Path(sys.argv[1]))\n"
        "except VhdError as exc: print(exc); sys.exit(3)\n"
    )
    command = [sys.executable, "-c", check, str(path)]
    if os.geteuid() == 0:
        # root reads any file: run the check as nobody, as an operator would be.
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command += [sys.executable, "-c", check, str(path)]

    result = subprocess.run(
        command, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )

    assert result.returncode == 3, result.stderr
    assert "not readable" in result.stdout


def test_vhd_error_is_a_value_error() -> None:
    assert issubclass(VhdError, ValueError)


def test_parse_footer_wants_512_bytes() -> None:
    with pytest.raises(VhdError, match="512 bytes, got 511"):
        parse_footer(bytes(511))


def test_build_footer_round_trips() -> None:
    unique_id = uuid.uuid4()

    footer = parse_footer(
        build_footer(30 * MIB, timestamp=1_767_225_600, unique_id=unique_id)
    )

    assert footer.cookie == b"conectix"
    assert footer.disk_type == FIXED
    assert footer.current_size == footer.original_size == 30 * MIB
    assert footer.unique_id == unique_id
    assert footer.created_unix == 1_767_225_600
    assert footer.creator_app == b"win "
    assert footer.geometry == chs_geometry(30 * MIB)


@pytest.mark.parametrize("mib", [20, 21, 127, 1000, 4096])
def test_build_footer_agrees_with_qemu_img_info(tmp_path: Path, mib: int) -> None:
    path = vhd_from_raw(tmp_path / "built.vhd", mib * MIB)

    info = json.loads(qemu_img("info", "-f", "vpc", "--output=json", str(path)))

    assert info["virtual-size"] == mib * MIB
    assert inspect_vhd(path).current_size == mib * MIB


@pytest.mark.parametrize("size", ["20M", "127M", "1G", "40G", "200G"])
def test_chs_geometry_matches_qemu(tmp_path: Path, size: str) -> None:
    path = tmp_path / "chs.vhd"
    qemu_img("create", "-q", "-f", "vpc", "-o", "subformat=fixed", str(path), size)
    with path.open("rb") as file:
        file.seek(-FOOTER_SIZE, os.SEEK_END)
        footer = parse_footer(file.read())

    assert chs_geometry(footer.current_size) == footer.geometry


def test_chs_geometry_caps_at_the_specification_maximum() -> None:
    assert chs_geometry(MAX_SIZE * 2) == (65535, 16, 255)


def test_build_footer_refuses_unaligned_size() -> None:
    with pytest.raises(ValueError, match="multiple of 512"):
        build_footer(20 * MIB + 1)
