"""Uploading fixed, dynamic and raw disks to a page blob on the stack's Azurite."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from devstack.config import StackConfig
from imagerelay.page_sender import SPARSE_GRANULE, nonzero_ranges
from imagerelay.upload import UploadError, upload_vhd
from imagerelay.vhd import (
    FIXED,
    FOOTER_SIZE,
    MIB,
    VhdError,
    build_footer,
    parse_footer,
)
from tests.imagerelay.disks import (
    differencing_vhd,
    dynamic_vhd,
    qemu_raw,
    raw_disk,
    raw_with_data,
    run,
)

RELEASE = {"release": "2026.12"}


@pytest.fixture
def connection_string(stack: StackConfig) -> str:
    """The tier-0 account's connection string."""
    return stack.connection_string(stack.accounts[0].name)


@pytest.fixture
def container(connection_string: str) -> Iterator[ContainerClient]:
    """A fresh container in the tier-0 account, deleted after the test."""
    service = BlobServiceClient.from_connection_string(connection_string)
    client = service.get_container_client(f"upload-{uuid.uuid4().hex[:12]}")
    client.create_container()
    yield client
    client.delete_container()


def write_vhd(path: Path, mib: int, extents: list[tuple[int, bytes]]) -> Path:
    """A sparse fixed VHD of `mib` MiB with `extents` written at their offsets."""
    with path.open("wb") as file:
        file.truncate(mib * MIB)
        for offset, payload in extents:
            file.seek(offset)
            file.write(payload)
        file.seek(mib * MIB)
        file.write(build_footer(mib * MIB))
    return path


def dense_vhd(path: Path, mib: int) -> Path:
    """A fixed VHD whose every byte is random."""
    return write_vhd(path, mib, [(0, os.urandom(mib * MIB))])


def file_md5(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def test_sparse_disk_round_trips_and_skips_zeros(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = write_vhd(
        tmp_path / "sparse.vhd",
        40,
        [(0, os.urandom(70_000)), (9 * MIB + 512, os.urandom(5000))],
    )
    blob = container.get_blob_client("sparse.vhd")
    seen: list[int] = []

    result = upload_vhd(path, blob, metadata=RELEASE, progress=seen.append)

    size = path.stat().st_size
    assert blob.download_blob().readall() == path.read_bytes()
    assert result.size == size
    assert 0 < result.bytes_sent < size // 10
    assert result.md5 == file_md5(path)
    assert result.blob_name == "sparse.vhd"
    assert result.mib_per_second > 0
    assert seen == sorted(seen)
    assert seen[-1] == size


def test_stamps_content_md5_and_metadata(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = write_vhd(tmp_path / "disk.vhd", 20, [(MIB, os.urandom(MIB))])
    blob = container.get_blob_client("disk.vhd")

    result = upload_vhd(path, blob, metadata=RELEASE)

    properties = blob.get_blob_properties()
    assert properties.blob_type == "PageBlob"
    assert base64.b64encode(properties.content_settings.content_md5).decode() == (
        result.md5
    )
    assert properties.metadata == {
        "release": "2026.12",
        "imagerelay_md5": result.md5,
        "imagerelay_size": str(path.stat().st_size),
    }


def test_dense_disk_round_trips(tmp_path: Path, container: ContainerClient) -> None:
    path = dense_vhd(tmp_path / "dense.vhd", 24)
    blob = container.get_blob_client("dense.vhd")

    result = upload_vhd(path, blob, metadata={}, threads=3, chunk_size=MIB)

    assert blob.download_blob().readall() == path.read_bytes()
    assert result.bytes_sent == path.stat().st_size


def test_golden_disk_round_trips(tmp_path: Path, container: ContainerClient) -> None:
    from devstack.golden import build_golden_vhd

    path = build_golden_vhd(tmp_path / "golden.vhd", size_mib=32)
    blob = container.get_blob_client("golden.vhd")

    result = upload_vhd(path, blob, metadata=RELEASE)

    assert blob.download_blob().readall() == path.read_bytes()
    assert result.bytes_sent < result.size


def test_upload_again_replaces_the_blob(
    tmp_path: Path, container: ContainerClient
) -> None:
    blob = container.get_blob_client("disk.vhd")
    upload_vhd(dense_vhd(tmp_path / "a.vhd", 21), blob, metadata={})
    second = write_vhd(tmp_path / "b.vhd", 20, [(0, b"second")])

    upload_vhd(second, blob, metadata={})

    assert blob.download_blob().readall() == second.read_bytes()


@pytest.mark.parametrize("fmt", ["qcow2", "vhdx"])
def test_refused_file_leaves_no_blob(
    tmp_path: Path, container: ContainerClient, fmt: str
) -> None:
    path = tmp_path / f"disk.{fmt}"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", fmt, str(path), "30M"], check=True
    )
    blob = container.get_blob_client(f"disk.{fmt}")

    with pytest.raises(VhdError, match="must be converted to raw first"):
        upload_vhd(path, blob, metadata={})

    assert not blob.exists()


def test_differencing_vhd_is_refused(
    tmp_path: Path, container: ContainerClient
) -> None:
    blob = container.get_blob_client("child.vhd")

    with pytest.raises(VhdError, match="differencing VHD"):
        upload_vhd(differencing_vhd(tmp_path / "child.vhd", 30), blob, metadata={})

    assert not blob.exists()


def assert_fixed_blob(blob: BlobClient, data: bytes, result_md5: str) -> bytes:
    """Check the blob is `data` then a fixed footer for it, stamped with its MD5."""
    downloaded = blob.download_blob().readall()
    assert downloaded[:-FOOTER_SIZE] == data
    footer = parse_footer(downloaded[-FOOTER_SIZE:])
    assert footer.disk_type == FIXED
    assert footer.current_size == len(data)
    assert footer.data_offset == 0xFFFF_FFFF_FFFF_FFFF
    md5 = base64.b64encode(hashlib.md5(downloaded).digest()).decode()
    assert result_md5 == md5
    properties = blob.get_blob_properties()
    assert base64.b64encode(properties.content_settings.content_md5).decode() == md5
    return downloaded


@pytest.mark.parametrize("size", [20 * MIB, 20 * MIB + 1000])
def test_raw_disk_uploads_as_fixed_vhd(
    tmp_path: Path, container: ContainerClient, size: int
) -> None:
    path = raw_disk(tmp_path / "disk.img", size, "gpt")
    run("mkfs.ext4", "-q", "-E", f"offset={MIB}", str(path), "16M")
    blob = container.get_blob_client("disk.vhd")

    result = upload_vhd(path, blob, metadata=RELEASE)

    virtual = -(-size // MIB) * MIB
    assert result.size == virtual + FOOTER_SIZE
    data = path.read_bytes().ljust(virtual, b"\0")
    downloaded = assert_fixed_blob(blob, data, result.md5)
    assert 0 < result.bytes_sent < size // 2
    fixed = tmp_path / "qemu.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc",
        "-o", "subformat=fixed,force_size=on", str(path), str(fixed))  # fmt: skip
    if size % MIB == 0:
        assert fixed.read_bytes()[:-FOOTER_SIZE] == downloaded[:-FOOTER_SIZE]


def test_dynamic_vhd_uploads_as_fixed_vhd(
    tmp_path: Path, container: ContainerClient
) -> None:
    offsets = [0, 5 * MIB + 512, 33 * MIB + 4096, 64 * MIB - 70_000]
    path = dynamic_vhd(
        tmp_path / "disk.vhd", raw_with_data(tmp_path / "d", 64, offsets)
    )
    blob = container.get_blob_client("disk.vhd")
    seen: list[int] = []

    result = upload_vhd(path, blob, metadata=RELEASE, progress=seen.append)

    assert result.size == 64 * MIB + FOOTER_SIZE
    assert_fixed_blob(blob, qemu_raw(path, tmp_path / "back.raw"), result.md5)
    assert 4 * 70_000 <= result.bytes_sent <= 4 * 2 * 64 * 1024 + FOOTER_SIZE
    assert seen == sorted(seen)
    assert seen[-1] == result.size


def test_dynamic_vhd_of_chs_size_sends_nothing(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = tmp_path / "chs.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", str(path), "30M"], check=True
    )
    blob = container.get_blob_client("chs.vhd")

    with pytest.raises(VhdError, match="not a whole number of MiB"):
        upload_vhd(path, blob, metadata={})

    assert not blob.exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_upload_keeps_an_unstamped_blob_that_resumes(
    tmp_path: Path, container: ContainerClient, error: type[BaseException]
) -> None:
    path = dense_vhd(tmp_path / "dense.vhd", 24)
    blob = container.get_blob_client("dense.vhd")
    calls: list[int] = []

    def progress(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise error("stop")

    # One thread keeps at most two writes in flight, so progress is reported
    # while most of the file is still unsent.
    with pytest.raises(error):
        upload_vhd(
            path, blob, metadata={}, chunk_size=MIB, threads=1, progress=progress
        )

    assert calls[-1] < path.stat().st_size
    partial = blob.get_blob_properties()
    assert "imagerelay_md5" not in partial.metadata
    assert not partial.content_settings.content_md5
    held = sum(r.end + 1 - r.start for r in blob.list_page_ranges())
    assert 0 < held < path.stat().st_size

    result = upload_vhd(path, blob, metadata={}, chunk_size=MIB, threads=1)

    assert result.resumed
    assert result.bytes_kept == held
    assert result.bytes_sent == path.stat().st_size - held
    assert blob.download_blob().readall() == path.read_bytes()
    assert result.md5 == file_md5(path)


class FailingBlob(BlobClient):
    """A blob whose page writes fail from the fourth one on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes = itertools.count(1)

    def upload_page(self, page: bytes, offset: int, length: int, **kwargs: Any) -> Any:
        if next(self.writes) >= 4:
            raise HttpResponseError(
                "ServerBusy at http://x/irtier0/c/b?comp=page&sv=1&sig=SECRETSIG"
            )
        return super().upload_page(page, offset, length, **kwargs)


class CorruptingBlob(BlobClient):
    """A blob that flips the last byte of any page write that ends at the footer."""

    end = 20 * MIB + 512

    def upload_page(self, page: bytes, offset: int, length: int, **kwargs: Any) -> Any:
        if offset + length == self.end:
            page = page[:-1] + bytes([page[-1] ^ 0xFF])
        return super().upload_page(page, offset, length, **kwargs)


def test_failed_page_write_keeps_the_partial_blob_and_hides_sas(
    tmp_path: Path, container: ContainerClient, connection_string: str
) -> None:
    path = dense_vhd(tmp_path / "dense.vhd", 24)
    blob = FailingBlob.from_connection_string(
        connection_string, container.container_name, "dense.vhd"
    )

    with pytest.raises(UploadError) as caught:
        upload_vhd(path, blob, metadata={}, chunk_size=MIB, threads=2)

    assert "SECRETSIG" not in str(caught.value)
    assert "sig=REDACTED" in str(caught.value)
    assert "run the same upload again" in str(caught.value)
    assert caught.value.__cause__ is None
    assert "imagerelay_md5" not in blob.get_blob_properties().metadata

    plain = container.get_blob_client("dense.vhd")
    result = upload_vhd(path, plain, metadata={}, chunk_size=MIB, threads=2)

    assert result.resumed and result.bytes_kept >= 3 * MIB
    assert result.bytes_sent + result.bytes_kept == path.stat().st_size
    assert plain.download_blob().readall() == path.read_bytes()


def test_footer_mismatch_is_caught_and_cleaned_up(
    tmp_path: Path, container: ContainerClient, connection_string: str
) -> None:
    path = write_vhd(tmp_path / "disk.vhd", 20, [(0, b"boot")])
    blob = CorruptingBlob.from_connection_string(
        connection_string, container.container_name, "disk.vhd"
    )

    with pytest.raises(UploadError, match="differ from the file's footer"):
        upload_vhd(path, blob, metadata={})

    assert not blob.exists()


def test_nonzero_ranges_merges_adjacent_granules() -> None:
    chunk = bytearray(8 * SPARSE_GRANULE)
    chunk[1] = 1
    chunk[SPARSE_GRANULE + 5] = 1
    chunk[5 * SPARSE_GRANULE] = 1
    chunk[-1] = 1

    assert list(nonzero_ranges(bytes(chunk))) == [
        (0, 2 * SPARSE_GRANULE),
        (5 * SPARSE_GRANULE, 6 * SPARSE_GRANULE),
        (7 * SPARSE_GRANULE, 8 * SPARSE_GRANULE),
    ]


def test_nonzero_ranges_of_a_short_tail() -> None:
    assert list(nonzero_ranges(bytes(SPARSE_GRANULE) + b"\1" * 512)) == [
        (SPARSE_GRANULE, SPARSE_GRANULE + 512)
    ]
    assert list(nonzero_ranges(bytes(3 * 512))) == []


@pytest.mark.parametrize("chunk_size", [0, 1000, 8 * MIB])
def test_bad_chunk_size_is_refused(tmp_path: Path, chunk_size: int) -> None:
    blob = BlobClient("http://127.0.0.1:1/acct", "c", "b")

    with pytest.raises(ValueError, match="chunk_size"):
        upload_vhd(tmp_path / "x.vhd", blob, metadata={}, chunk_size=chunk_size)
