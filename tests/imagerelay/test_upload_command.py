"""`imagerelay upload` from the command line, against the stack's tier-0."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from azure.storage.blob import BlobClient
from typer.testing import CliRunner

from devstack.config import StackConfig
from devstack.golden import build_golden_vhd
from imagerelay.cli import app
from imagerelay.inventory import load_inventory
from imagerelay.settings import get_settings
from imagerelay.vhd import parse_footer
from tests.conftest import TEST_INVENTORY

runner = CliRunner()


def _upload(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["upload", *args])
    return result.exit_code, result.output


def _blob(stack: StackConfig, name: str) -> BlobClient:
    plan = load_inventory(TEST_INVENTORY)
    return BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container, name
    )


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    first = build_golden_vhd(folder / "one" / "disk.vhd", 24)
    second = build_golden_vhd(folder / "two" / "disk.vhd", 21)
    return first, second


def test_upload_prints_the_blob_and_skips_a_second_identical_upload(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    code, output = _upload(str(disks[0]), "--release", "cli.1", "--os-type", "Linux")
    assert code == 0, output
    assert output.strip().splitlines()[-1] == "uploads/cli.1/disk.vhd"
    etag = _blob(stack, "uploads/cli.1/disk.vhd").get_blob_properties().etag

    code, output = _upload(str(disks[0]), "--release", "cli.1", "--os-type", "linux")

    assert code == 0, output
    assert "same MD5" in output
    assert _blob(stack, "uploads/cli.1/disk.vhd").get_blob_properties().etag == etag


def test_a_different_file_never_silently_replaces_an_upload(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    _upload(str(disks[0]), "--release", "cli.2", "--os-type", "linux")
    blob = _blob(stack, "uploads/cli.2/disk.vhd")
    before = blob.get_blob_properties()

    code, output = _upload(str(disks[1]), "--release", "cli.2", "--os-type", "linux")

    assert code == 2
    assert "--replace" in output
    assert blob.get_blob_properties().etag == before.etag

    code, output = _upload(
        str(disks[1]), "--release", "cli.2", "--os-type", "linux", "--replace"
    )
    assert code == 0, output
    assert blob.get_blob_properties().size == disks[1].stat().st_size


def test_error_text_is_printed_as_is_not_as_markup(
    stack: StackConfig, tmp_path: Path
) -> None:
    missing = tmp_path / "[bold]disk[/bold].vhd"

    code, output = _upload(str(missing), "--release", "cli.3", "--os-type", "linux")

    assert code == 2
    assert "[bold]disk[/bold].vhd does not exist" in output


def test_an_image_name_too_long_for_any_target_is_refused_before_upload(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    code, output = _upload(
        str(disks[0]), "--release", "cli.4", "--os-type", "linux",
        "--image-name", "g" * 70,
    )  # fmt: skip

    assert code == 2
    assert "1-80" in output
    assert not _blob(stack, "uploads/cli.4/disk.vhd").exists()


def test_a_file_name_a_release_cannot_read_is_refused_before_upload(
    stack: StackConfig, disks: tuple[Path, Path], tmp_path: Path
) -> None:
    odd = tmp_path / "golden#1.vhd"
    odd.symlink_to(disks[0])

    code, output = _upload(str(odd), "--release", "cli.11", "--os-type", "linux")

    assert code == 2
    assert "file name 'golden#1.vhd' cannot be a tier-0 blob name" in output
    assert not _blob(stack, "uploads/cli.11/golden#1.vhd").exists()


def test_an_empty_image_name_is_refused_not_replaced_by_the_default(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    code, output = _upload(
        str(disks[0]), "--release", "cli.6", "--os-type", "linux", "--image-name", ""
    )

    assert code == 2
    assert "image name '' is invalid" in output
    assert not _blob(stack, "uploads/cli.6/disk.vhd").exists()


def test_a_wrong_tier0_key_is_a_clear_error_without_the_key(
    stack: StackConfig, disks: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = stack.accounts[0]
    wrong_key = base64.b64encode(bytes(64)).decode()
    wrong = stack.connection_string(account.name).replace(account.key, wrong_key)
    monkeypatch.setenv("IMAGERELAY_TIER0_CONNECTION_STRING", wrong)
    get_settings.cache_clear()
    try:
        code, output = _upload(
            str(disks[0]), "--release", "cli.5", "--os-type", "linux"
        )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert code == 2
    assert "refused" in output
    assert wrong_key not in output
    assert account.key not in output


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from imagerelay.cli import main; main()"]
    command += [
        "upload",
        str(tmp_path / "x.vhd"),
        "--release",
        "r",
        "--os-type",
        "linux",
    ]

    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "IMAGERELAY_UPLOAD_THREADS": "0"},
        check=False,
    )

    assert result.returncode == 2
    assert "IMAGERELAY_UPLOAD_THREADS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_raw_disk_uploads_and_a_second_upload_is_skipped(
    stack: StackConfig, tmp_path: Path
) -> None:
    from tests.imagerelay.disks import raw_disk

    path = raw_disk(tmp_path / "disk.img", 20 * 2**20 + 1000, "gpt")

    code, output = _upload(str(path), "--release", "cli.6", "--os-type", "linux")
    assert code == 0, output
    assert output.strip().splitlines()[-1] == "uploads/cli.6/disk.img.vhd"
    blob = _blob(stack, "uploads/cli.6/disk.img.vhd")
    assert blob.get_blob_properties().size == 21 * 2**20 + 512

    code, output = _upload(str(path), "--release", "cli.6", "--os-type", "linux")
    assert code == 0, output
    assert "same MD5" in output


@pytest.mark.parametrize("fmt", ["qcow2", "vhdx", "vmdk", "vdi", "qed"])
def test_other_formats_are_converted_with_qemu_img(
    stack: StackConfig, tmp_path: Path, fmt: str
) -> None:
    raw = tmp_path / "data.raw"
    with raw.open("wb") as file:
        file.truncate(24 * 2**20)
        for offset in (0, 5 * 2**20 + 4096, 23 * 2**20):
            file.seek(offset)
            file.write(os.urandom(70_000))
    image = tmp_path / f"disk.{fmt}"
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", fmt, str(raw), str(image)],
        check=True,
    )

    code, output = _upload(str(image), "--release", "cli.6", "--os-type", "linux")

    assert code == 0, output
    blob = _blob(stack, f"uploads/cli.6/disk.{fmt}.vhd").download_blob().readall()
    assert blob[: raw.stat().st_size] == raw.read_bytes()
    assert len(blob) == 24 * 2**20 + 512

    code, output = _upload(str(image), "--release", "cli.6", "--os-type", "linux")
    assert code == 0, output
    assert "same MD5" in output, "a second conversion of the same file must match"


def test_an_image_too_big_for_azure_is_refused_before_conversion(
    stack: StackConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "big.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(image), "3T"],
                   check=True)  # fmt: skip
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    code, output = _upload(str(image), "--release", "cli.10", "--os-type", "linux")

    assert code == 2
    assert "big.vhdx is a VHDX image of 3,145,728 MiB, over Azure's OS disk" in output
    assert "converting" not in output
    assert list(scratch.iterdir()) == [], "no conversion was started"
    assert not _blob(stack, "uploads/cli.10/big.vhdx.vhd").exists()


def test_generation_follows_the_partition_table_unless_chosen(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    code, output = _upload(str(disks[0]), "--release", "cli.7", "--os-type", "linux")

    assert code == 0, output
    assert "Hyper-V generation V1 (MBR partition table)" in output
    stamps = _blob(stack, "uploads/cli.7/disk.vhd").get_blob_properties().metadata
    assert stamps["imagerelay_hyper_v_generation"] == "V1"

    code, output = _upload(
        str(disks[1]), "--release", "cli.8", "--os-type", "linux",
        "--hyper-v-generation", "v2",
    )  # fmt: skip
    assert code == 0, output
    assert "usually boots as V1, not V2" in output


def test_the_same_file_with_other_stamps_needs_replace(
    stack: StackConfig, disks: tuple[Path, Path]
) -> None:
    _upload(str(disks[0]), "--release", "cli.9", "--os-type", "linux")
    blob = _blob(stack, "uploads/cli.9/disk.vhd")

    code, output = _upload(str(disks[0]), "--release", "cli.9", "--os-type", "windows")
    assert code == 2
    assert "imagerelay_os_type=Linux" in output and "--replace" in output

    code, output = _upload(
        str(disks[0]), "--release", "cli.9", "--os-type", "windows", "--replace"
    )
    assert code == 0, output
    props = blob.get_blob_properties()
    assert props.metadata["imagerelay_os_type"] == "Windows"
    assert props.metadata["imagerelay_md5"]
    assert props.size == disks[0].stat().st_size


def test_a_bad_release_id_is_named_as_such(disks: tuple[Path, Path]) -> None:
    code, output = _upload(str(disks[0]), "--release", "2026/12", "--os-type", "linux")

    assert code == 2
    assert "release id '2026/12' is invalid" in output


def test_resize_grows_a_vhd_to_the_next_whole_mib(
    stack: StackConfig, tmp_path: Path
) -> None:
    path = tmp_path / "odd.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc",
         "-o", "subformat=fixed,force_size=on", str(path), "30.5M"],
        check=True,
    )  # fmt: skip
    data = os.urandom(100_000)
    with path.open("r+b") as file:
        file.seek(7 * 2**20)
        file.write(data)

    code, output = _upload(str(path), "--release", "cli.10", "--os-type", "linux")
    assert code == 2
    assert "--resize" in output
    assert not _blob(stack, "uploads/cli.10/odd.vhd").exists()

    code, output = _upload(
        str(path), "--release", "cli.10", "--os-type", "linux", "--resize"
    )

    assert code == 0, output
    blob = _blob(stack, "uploads/cli.10/odd.vhd")
    content = blob.download_blob().readall()
    assert len(content) == 31 * 2**20 + 512
    original = path.read_bytes()[:-512]
    assert content[: len(original)] == original
    assert content[len(original) : 31 * 2**20] == bytes(31 * 2**20 - len(original))
    footer = parse_footer(content[-512:])
    assert (footer.disk_type, footer.current_size) == (2, 31 * 2**20)
    old = parse_footer(path.read_bytes()[-512:])
    assert (footer.timestamp, footer.unique_id) == (old.timestamp, old.unique_id)
    stamped = blob.get_blob_properties().metadata["imagerelay_md5"]
    assert stamped == base64.b64encode(hashlib.md5(content).digest()).decode()


def test_resize_grows_a_dynamic_vhd_to_the_next_whole_mib(
    stack: StackConfig, tmp_path: Path
) -> None:
    raw = tmp_path / "odd.raw"
    subprocess.run(["truncate", "-s", str(30 * 2**20 + 512 * 1000), str(raw)],
                   check=True)  # fmt: skip
    data = os.urandom(100_000)
    with raw.open("r+b") as file:
        file.seek(7 * 2**20)
        file.write(data)
        file.seek(30 * 2**20 + 512 * 1000 - 4096)
        file.write(b"end of the disk".ljust(4096, b"!"))
    path = tmp_path / "odd.vhd"
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc",
         "-o", "subformat=dynamic,force_size=on", str(raw), str(path)],
        check=True,
    )  # fmt: skip

    code, output = _upload(str(path), "--release", "cli.11", "--os-type", "linux")
    assert code == 2
    assert "--resize" in output
    assert not _blob(stack, "uploads/cli.11/odd.vhd").exists()

    code, output = _upload(
        str(path), "--release", "cli.11", "--os-type", "linux", "--resize"
    )

    assert code == 0, output
    blob = _blob(stack, "uploads/cli.11/odd.vhd")
    content = blob.download_blob().readall()
    assert len(content) == 31 * 2**20 + 512
    original = raw.read_bytes()
    assert content[: len(original)] == original
    assert content[len(original) : 31 * 2**20] == bytes(31 * 2**20 - len(original))
    footer = parse_footer(content[-512:])
    assert (footer.disk_type, footer.current_size) == (2, 31 * 2**20)
    assert footer.data_offset == 0xFFFF_FFFF_FFFF_FFFF
    old = parse_footer(path.read_bytes()[-512:])
    assert (footer.timestamp, footer.unique_id) == (old.timestamp, old.unique_id)
    stamped = blob.get_blob_properties().metadata["imagerelay_md5"]
    assert stamped == base64.b64encode(hashlib.md5(content).digest()).decode()


def test_a_disk_without_a_partition_table_gets_v2_and_the_option_named() -> None:
    from imagerelay.disk_format import PartitionStyle
    from imagerelay.intake import generation_for

    said: list[str] = []
    assert generation_for(None, PartitionStyle.NONE, said.append) == "V2"
    assert "no MBR or GPT partition table" in said[0]
    assert "--hyper-v-generation" in said[0]
    said.clear()
    assert generation_for(None, PartitionStyle.GPT, said.append) == "V2"
    assert said == ["Hyper-V generation V2 (GPT partition table)"]
    assert generation_for("V1", PartitionStyle.GPT, said.append) == "V1"
    assert "usually boots as V2, not V1" in said[-1]
