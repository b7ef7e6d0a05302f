"""Resuming a partial blob: whose it is, which pages it keeps, and what it fixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devstack.config import StackConfig
from imagerelay.extents import open_source
from imagerelay.resume import META_PARTIAL, WrittenPages, source_identity
from imagerelay.upload import begin_upload, upload_vhd
from imagerelay.vhd import MIB, build_footer

DATA = [(0, 3 * MIB), (8 * MIB, 12 * MIB)]


@pytest.fixture
def container(stack: StackConfig) -> Iterator[ContainerClient]:
    service = BlobServiceClient.from_connection_string(
        stack.connection_string(stack.accounts[0].name)
    )
    client = service.get_container_client(f"resume-{uuid.uuid4().hex[:12]}")
    client.create_container()
    yield client
    client.delete_container()


def _vhd(path: Path) -> Path:
    """A 20 MiB fixed VHD with random data in DATA."""
    with path.open("wb") as file:
        file.truncate(20 * MIB)
        for start, end in DATA:
            file.seek(start)
            file.write(os.urandom(end - start))
        file.seek(20 * MIB)
        file.write(build_footer(20 * MIB))
    return path


def _partial(path: Path, container: ContainerClient) -> ContainerClient:
    """Create the partial blob a first run would have created, with no pages."""
    _, source = open_source(path)
    start = begin_upload(source, container.get_blob_client("disk.vhd"))
    assert not start.resumed
    return container


def test_kept_pages_that_differ_are_sent_again(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = _vhd(tmp_path / "disk.vhd")
    blob = _partial(path, container).get_blob_client("disk.vhd")
    content = path.read_bytes()
    blob.upload_page(content[:MIB], offset=0, length=MIB)
    blob.upload_page(os.urandom(MIB), offset=MIB, length=MIB)

    result = upload_vhd(path, blob, metadata={}, chunk_size=MIB)

    assert result.resumed
    assert result.bytes_kept == MIB
    assert result.bytes_sent == 3 * MIB + 4 * MIB + 512 - MIB
    assert blob.download_blob().readall() == content


def test_kept_pages_where_the_file_has_zeros_are_cleared(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = _vhd(tmp_path / "disk.vhd")
    blob = _partial(path, container).get_blob_client("disk.vhd")
    blob.upload_page(os.urandom(MIB), offset=15 * MIB, length=MIB)

    result = upload_vhd(path, blob, metadata={}, chunk_size=MIB)

    assert result.resumed and result.bytes_kept == 0
    assert blob.download_blob().readall() == path.read_bytes()
    assert all(r.end < 15 * MIB or r.start >= 16 * MIB
               for r in blob.list_page_ranges())  # fmt: skip


def test_a_finished_upload_is_replaced_not_resumed(
    tmp_path: Path, container: ContainerClient
) -> None:
    path = _vhd(tmp_path / "disk.vhd")
    blob = container.get_blob_client("disk.vhd")
    upload_vhd(path, blob, metadata={})

    _, source = open_source(path)
    start = begin_upload(source, blob)

    assert not start.resumed
    assert "finished upload" in start.note
    assert blob.get_blob_properties().metadata == {
        META_PARTIAL: source_identity(path).stamp()
    }


def test_identity_sees_content_rewritten_with_the_same_size_and_time(
    tmp_path: Path,
) -> None:
    path = _vhd(tmp_path / "disk.vhd")
    before = source_identity(path)
    stat = path.stat()
    with path.open("r+b") as file:
        file.write(os.urandom(4096))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    after = source_identity(path)

    assert (after.file_size, after.mtime_ns) == (before.file_size, before.mtime_ns)
    assert after.stamp() != before.stamp()


def test_written_pages_merge_and_clip(
    tmp_path: Path, container: ContainerClient
) -> None:
    blob = container.get_blob_client("pages")
    blob.create_page_blob(8 * MIB)
    for offset in (0, 512, 1024, 4 * MIB):
        blob.upload_page(b"\1" * 512, offset=offset, length=512)

    pages = WrittenPages(blob)

    assert pages.total == 4 * 512
    assert pages.within(0, 1024) == [(0, 1024)]
    assert pages.within(1024, 4 * MIB + 100) == [(1024, 1536), (4 * MIB, 4 * MIB + 100)]
    assert pages.within(5 * MIB, 6 * MIB) == []
