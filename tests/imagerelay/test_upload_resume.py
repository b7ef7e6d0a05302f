"""`imagerelay upload` killed midway (SIGKILL, Ctrl-C), then run again: it resumes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobClient
from azure.storage.blob.aio import ContainerClient

from devstack.config import StackConfig
from imagerelay.inventory import load_inventory
from imagerelay.source import SourceError, verify_source
from tests.conftest import TEST_INVENTORY
from tests.imagerelay.disks import run

MIB = 2**20
DISK_MIB = 160
DATA_MIB = 120
# The data written by dd plus the 512-byte footer, the only non-zero bytes.
NONZERO = DATA_MIB * MIB + 512


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 160 MiB fixed VHD holding 120 MiB of random data, by dd and qemu-img."""
    folder = tmp_path_factory.mktemp("resume")
    raw = folder / "disk.raw"
    run("truncate", "-s", f"{DISK_MIB}M", str(raw))
    run("dd", "if=/dev/urandom", f"of={raw}", "bs=1M", f"count={DATA_MIB}",
        "seek=20", "conv=notrunc", "status=none")  # fmt: skip
    vhd = folder / "disk.vhd"
    run("qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc",
        "-o", "subformat=fixed,force_size=on", str(raw), str(vhd))  # fmt: skip
    raw.unlink()
    return vhd


def _blob(stack: StackConfig, name: str) -> BlobClient:
    plan = load_inventory(TEST_INVENTORY)
    return BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container, name
    )


def _held(blob: BlobClient) -> int:
    """Bytes in the blob's written pages (Azurite does not merge adjacent ranges)."""
    if not blob.exists():
        return 0
    return sum(r.end + 1 - r.start for r in blob.list_page_ranges())


def _command(disk: Path, release: str) -> list[str]:
    script = Path(sys.executable).with_name("imagerelay")
    return [str(script), "upload", str(disk), "--release", release,
            "--os-type", "linux", "--threads", "2"]  # fmt: skip


def _interrupt_midway(
    stack: StackConfig, disk: Path, release: str, sig: signal.Signals
) -> tuple[int, str, int]:
    """Start the upload, send `sig` once some pages landed.

    Returns the exit code, the error output and the bytes the blob then holds.
    """
    blob = _blob(stack, f"uploads/{release}/disk.vhd")
    process = subprocess.Popen(
        _command(disk, release),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _held(blob) < 16 * MIB:
        assert process.poll() is None, "the upload ended before it could be stopped"
        assert time.monotonic() < deadline, "no pages landed in 120 s"
        time.sleep(0.02)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr, _held(blob)


def _resume(disk: Path, release: str) -> tuple[int, int, str]:
    """Run the same command again; return the bytes it sent and kept, and its output."""
    done = subprocess.run(
        _command(disk, release), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "resuming an interrupted upload" in done.stderr
    sent = re.search(r"\(([\d,]+) bytes, zero ranges skipped\)", done.stderr)
    kept = re.search(r"([\d,]+) bytes kept from the interrupted upload", done.stderr)
    assert sent and kept, done.stderr
    return int(sent[1].replace(",", "")), int(kept[1].replace(",", "")), done.stderr


def _assert_unfinished_is_refused(stack: StackConfig, name: str) -> None:
    """The release refuses the partial blob: it looks unfinished, because it is."""
    plan = load_inventory(TEST_INVENTORY)

    async def verify() -> None:
        async with ContainerClient.from_connection_string(
            stack.connection_string(plan.tier0.storage_account), plan.tier0.container
        ) as container:
            await verify_source(container, name, "Linux", None)

    with pytest.raises(SourceError, match="did not finish"):
        asyncio.run(verify())


def _assert_complete(stack: StackConfig, name: str, disk: Path) -> None:
    blob = _blob(stack, name)
    content = blob.download_blob().readall()
    file_md5 = hashlib.md5(disk.read_bytes()).digest()
    assert hashlib.md5(content).digest() == file_md5
    properties = blob.get_blob_properties()
    assert bytes(properties.content_settings.content_md5) == file_md5
    assert "imagerelay_partial" not in properties.metadata


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGKILL, -9), (signal.SIGINT, 130), (signal.SIGTERM, 143)],
)
def test_upload_stopped_midway_resumes_sending_only_the_rest(
    stack: StackConfig, disk: Path, sig: signal.Signals, code: int
) -> None:
    release = f"resume.{sig.name.lower()}"
    name = f"uploads/{release}/disk.vhd"

    returncode, stderr, held = _interrupt_midway(stack, disk, release, sig)

    assert returncode == code, stderr
    if sig is not signal.SIGKILL:
        assert "run the same command again" in stderr
    assert 0 < held < NONZERO
    _assert_unfinished_is_refused(stack, name)

    sent, kept, output = _resume(disk, release)

    # Page writes the server had received when the client died may still land
    # after `held` was read: at most one per write in flight (2 threads: 4).
    assert held <= kept <= held + 4 * 4 * MIB, output
    assert sent < NONZERO
    assert kept + sent == NONZERO, output
    _assert_complete(stack, name, disk)


def test_a_partial_upload_of_a_changed_file_starts_over(
    stack: StackConfig, disk: Path, tmp_path: Path
) -> None:
    release = "resume.changed"
    copy = tmp_path / "disk.vhd"
    copy.write_bytes(disk.read_bytes())
    _, _, held = _interrupt_midway(stack, copy, release, signal.SIGKILL)
    assert held > 0
    with copy.open("r+b") as file:
        file.seek(20 * MIB)
        file.write(os.urandom(MIB))

    done = subprocess.run(
        _command(copy, release), capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "starting over: the unfinished upload is of another file" in done.stderr
    _assert_complete(stack, f"uploads/{release}/disk.vhd", copy)
