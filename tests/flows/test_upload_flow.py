"""The upload flow against the local stack: the blob, and its progress artifact."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from devstack.config import StackConfig
from flows.upload import UploadProgress, upload_flow
from imagerelay.inventory import load_inventory
from imagerelay.naming import artifact_key
from tests.conftest import TEST_INVENTORY

MIB = 2**20


def _vhd(folder: Path) -> Path:
    """A 40 MiB fixed VHD with 24 MiB of random data, by dd and qemu-img."""
    raw = folder / "disk.raw"
    subprocess.run(["truncate", "-s", "40M", str(raw)], check=True)
    with raw.open("r+b") as file:
        file.seek(8 * MIB)
        file.write(os.urandom(24 * MIB))
    vhd = folder / "flowdisk.vhd"
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc",
         "-o", "subformat=fixed,force_size=on", str(raw), str(vhd)],
        check=True,
    )  # fmt: skip
    return vhd


async def _progress_artifacts(key: str) -> list[float]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return [float(a.data) for a in artifacts if a.type == "progress"]  # type: ignore[arg-type]


def test_upload_flow_uploads_and_its_progress_artifact_reaches_100(
    stack: StackConfig, tmp_path: Path
) -> None:
    path = _vhd(tmp_path)

    summary = upload_flow(file=str(path), release="flow.1", os_type="Linux", threads=2)

    assert summary.blob == "uploads/flow.1/flowdisk.vhd"
    assert summary.bytes_sent == 24 * MIB + 512
    md5 = base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()
    assert summary.md5 == md5
    plan = load_inventory(TEST_INVENTORY)
    blob = BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account),
        plan.tier0.container,
        summary.blob,
    )
    assert blob.get_blob_properties().metadata["imagerelay_md5"] == md5
    key = artifact_key("flow.1", "golden-linux", "upload")
    assert asyncio.run(_progress_artifacts(key)) == [100.0]


def test_upload_flow_fails_on_a_refused_file_naming_the_fix(
    stack: StackConfig, tmp_path: Path
) -> None:
    path = tmp_path / "small.raw"
    path.write_bytes(b"\1" * 4096)

    state = upload_flow(
        file=str(path), release="flow.2", os_type="Linux", return_state=True
    )

    assert state.is_failed()
    with pytest.raises(ValueError, match="under Azure's minimum of 20 MiB"):
        state.result()


def test_progress_is_published_every_few_percent_and_at_the_end() -> None:
    calls: list[tuple[str, float]] = []
    artifact = uuid.uuid4()

    def create(percent: float, key: str, description: str) -> uuid.UUID:
        calls.append(("create", percent))
        return artifact

    def update(artifact_id: uuid.UUID, percent: float) -> None:
        assert artifact_id == artifact
        calls.append(("update", percent))

    progress = UploadProgress("k", "d", create, update)
    total = 1000 * MIB
    for done in range(0, total + 1, MIB):
        progress(done, total)
    progress(total, total)

    assert calls[0] == ("create", 0.0)
    assert calls[-1] == ("update", 100.0)
    percents = [percent for _, percent in calls]
    assert percents == sorted(percents)
    assert 20 <= len(calls) <= 22
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(percents))
