"""A release without a vhd takes the newest upload no release has taken yet."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from azure.data.tables import TableClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob.aio import ContainerClient
from prefect.client.orchestration import get_client

from devstack.config import StackConfig
from devstack.golden import build_golden_vhd
from flows.release import release_flow
from imagerelay.inventory import load_inventory
from imagerelay.naming import upload_blob_name
from imagerelay.source import NothingToRelease, newest_unreleased_upload
from imagerelay.upload import upload_vhd
from tests.conftest import TEST_INVENTORY

IMAGE = "sched-linux"


def _inventory(tmp_path: Path, container: str) -> Path:
    """The demo inventory with a tier-0 container of its own, free of other uploads."""
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    document["tier0"]["container"] = container
    path = tmp_path / f"{container}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _service(stack: StackConfig) -> BlobServiceClient:
    plan = load_inventory(TEST_INVENTORY)
    return BlobServiceClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account)
    )


async def test_newest_finished_upload_of_the_image_unless_released(
    stack: StackConfig,
) -> None:
    service = _service(stack)
    container = service.create_container("schedpick")
    linux = {"imagerelay_os_type": "Linux", "imagerelay_md5": "stamped"}
    blobs = [
        ("uploads/a/old.vhd", {**linux, "imagerelay_image_name": IMAGE}),
        ("uploads/b/new.vhd", {**linux, "imagerelay_image_name": IMAGE}),
        ("uploads/c/rhel.vhd", {**linux, "imagerelay_image_name": "rhel"}),
        ("uploads/d/win.vhd", {"imagerelay_os_type": "Windows", "imagerelay_md5": "s"}),
        ("uploads/e/unfinished.vhd", {"imagerelay_os_type": "Linux"}),
    ]
    for name, metadata in blobs:
        container.upload_blob(name, name.encode(), metadata=metadata)
        await asyncio.sleep(1.1)  # Last-Modified has a one-second resolution
    new_md5 = base64.b64encode(hashlib.md5(b"uploads/b/new.vhd").digest()).decode()

    async with ContainerClient.from_connection_string(
        stack.connection_string("irtier0"), "schedpick"
    ) as client:
        picked = await newest_unreleased_upload(client, "Linux", IMAGE, {})
        # A later restamp of an older upload (e.g. its metadata fixed by hand)
        # does not make it the newest: uploads are ordered by creation time.
        await client.get_blob_client("uploads/a/old.vhd").set_blob_metadata(
            {**linux, "imagerelay_image_name": IMAGE}
        )
        assert await newest_unreleased_upload(client, "Linux", IMAGE, {}) == picked
        with pytest.raises(NothingToRelease, match=r"was released as 2026\.01"):
            await newest_unreleased_upload(client, "Linux", IMAGE, {new_md5: "2026.01"})
        rhel = await newest_unreleased_upload(client, "Linux", "rhel", {})
        windows = await newest_unreleased_upload(client, "Windows", "any", {})
        with pytest.raises(NothingToRelease, match="no finished Linux upload of x"):
            await newest_unreleased_upload(client, "Linux", "x", {})

    assert (rhel, windows) == ("uploads/c/rhel.vhd", "uploads/d/win.vhd")
    assert picked == "uploads/b/new.vhd", "image name, OS type and MD5 stamp filter"


async def test_schedule_releases_each_upload_once(
    stack: StackConfig, tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path, "scheduled")
    plan = load_inventory(inventory)
    service = _service(stack)
    service.create_container("scheduled")
    names: list[str] = []

    async def scheduled_run() -> tuple[bool, str]:
        state = await release_flow(
            os_type="Linux",
            image_name=IMAGE,
            inventory=str(inventory),
            return_state=True,
        )
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
        names.append(run.name)
        return state.is_completed(), state.message or ""

    assert await scheduled_run() == (
        True,
        f"no finished Linux upload of {IMAGE} is in scheduled/uploads/; run "
        f"`imagerelay upload FILE --os-type linux --image-name {IMAGE}` first",
    )

    for release in ("2026.08-sched", "2026.09-sched"):
        path = build_golden_vhd(tmp_path / release / "sched.vhd", 21)
        upload_vhd(
            path,
            service.get_blob_client("scheduled", upload_blob_name(release, path.name)),
            metadata={
                "imagerelay_os_type": "Linux",
                "imagerelay_image_name": IMAGE,
                "imagerelay_release": release,
            },
        )
        await asyncio.sleep(1.1)

        completed, message = await scheduled_run()
        assert completed, message
        ready = f"{len(plan.enabled_targets)} images ready for release {release}"
        assert message == ready

        completed, message = await scheduled_run()
        assert completed
        assert "nothing to release" in message
        assert f"was released as {release}" in message

    assert names[1] == "release-2026.08-sched-sched-linux", "renamed after its id"
    assert names[0] == names[2] == f"release-latest-{IMAGE}", "nothing released"
    table = TableClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), "imagerelayledger"
    )
    released = {
        e["PartitionKey"]
        for e in table.query_entities(f"image_name eq '{IMAGE}'")
        if e["state"] == "done"
    }
    assert released == {"2026.08-sched", "2026.09-sched"}
