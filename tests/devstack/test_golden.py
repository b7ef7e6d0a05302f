"""The demo's golden disk: a fixed VHD with an MBR and an ext4 partition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import golden
from devstack.golden import PARTITION_START, GoldenError, build_golden_vhd
from imagerelay.vhd import FIXED, MIB, inspect_vhd


def sbin_tool(name: str) -> str:
    """The path of an e2fsprogs/util-linux tool, which may live in sbin."""
    found = shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def golden_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_golden_vhd(tmp_path_factory.mktemp("golden") / "golden.vhd", 32)


def test_is_a_fixed_vhd_azure_accepts(golden_vhd: Path) -> None:
    info = json.loads(
        run("qemu-img", "info", "-f", "vpc", "--output=json", str(golden_vhd))
    )

    footer = inspect_vhd(golden_vhd)

    assert info["format"] == "vpc"
    assert info["virtual-size"] == 32 * MIB
    assert footer.disk_type == FIXED
    assert footer.current_size == 32 * MIB
    assert golden_vhd.stat().st_size == 32 * MIB + 512


def test_has_one_linux_partition_from_1_mib(golden_vhd: Path) -> None:
    table = json.loads(run(sbin_tool("sfdisk"), "--json", str(golden_vhd)))

    partitions = table["partitiontable"]["partitions"]
    assert table["partitiontable"]["label"] == "dos"
    assert len(partitions) == 1
    assert partitions[0]["start"] * 512 == PARTITION_START
    assert partitions[0]["type"] == "83"
    assert (partitions[0]["start"] + partitions[0]["size"]) * 512 == 32 * MIB


def test_partition_holds_ext4_with_the_demo_files(golden_vhd: Path) -> None:
    probe = run(
        sbin_tool("blkid"),
        "-p",
        "-O",
        str(PARTITION_START),
        "-o",
        "export",
        str(golden_vhd),
    )
    image = f"{golden_vhd}?offset={PARTITION_START}"
    debugfs = sbin_tool("debugfs")

    os_release = run(debugfs, "-R", "cat /etc/os-release", image)
    listing = run(debugfs, "-R", "ls -l /opt/demo", image)

    assert "TYPE=ext4" in probe.splitlines()
    assert "LABEL=golden" in probe.splitlines()
    assert "ID=imagerelay-demo" in os_release
    assert "payload.bin" in listing
    assert "262144" in listing


def test_filesystem_is_clean(golden_vhd: Path) -> None:
    image = f"{golden_vhd}?offset={PARTITION_START}"

    done = subprocess.run(
        [sbin_tool("e2fsck"), "-f", "-n", image], capture_output=True, text=True
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_tool_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(golden.shutil, "which", lambda name, path=None: None)

    with pytest.raises(GoldenError, match="apt-get install fdisk"):
        build_golden_vhd(tmp_path / "golden.vhd")


def test_refuses_a_size_azure_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(GoldenError, match="under Azure's minimum"):
        build_golden_vhd(tmp_path / "golden.vhd", 10)


def test_module_entry_point_builds_a_disk(tmp_path: Path) -> None:
    dest = tmp_path / "cli.vhd"

    subprocess.run(
        [sys.executable, "-m", "devstack.golden", str(dest), "--size-mib", "20"],
        check=True,
        capture_output=True,
    )

    assert inspect_vhd(dest).current_size == 20 * MIB
