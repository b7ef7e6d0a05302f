"""The release flow against the local stack: images, ledger and artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from azure.data.tables import TableClient
from azure.data.tables.aio import TableServiceClient
from azure.identity.aio import DefaultAzureCredential
from azure.storage.blob import BlobClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from devstack.config import StackConfig
from devstack.golden import build_golden_vhd
from flows.release import release_flow
from imagerelay import clients
from imagerelay.inventory import Target, load_inventory
from imagerelay.ledger import Ledger
from imagerelay.models import Release, SourceVhd, TargetState
from imagerelay.naming import (
    artifact_key,
    managed_image_name,
    tier1_blob_name,
    tier2_blob_name,
    upload_blob_name,
)
from imagerelay.settings import get_settings
from imagerelay.upload import upload_vhd
from tests.conftest import TEST_INVENTORY

RELEASE = "2026.12"
IMAGE = "golden-linux"


@pytest.fixture(scope="module")
def uploaded_vhd(stack: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real golden disk, uploaded to tier-0 the way `imagerelay upload` does it."""
    plan = load_inventory(TEST_INVENTORY)
    path = build_golden_vhd(tmp_path_factory.mktemp("golden") / "golden.vhd", 32)
    name = upload_blob_name(RELEASE, path.name)
    blob = BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container, name
    )
    upload_vhd(path, blob, metadata={"imagerelay_os_type": "Linux"})
    return name


def _account_of(blob_uri: str) -> str:
    return urlsplit(blob_uri).path.split("/")[1]


async def _artifact_rows(key: str) -> list[dict[str, str]]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert artifacts, f"no artifact {key}"
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data


async def test_release_makes_an_image_in_every_enabled_target(
    stack: StackConfig, uploaded_vhd: str
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    enabled = plan.enabled_targets
    assert len(enabled) >= 3 and len(enabled) < len(plan.targets)

    state = await release_flow(
        os_type="Linux",
        image_name=IMAGE,
        release_id=RELEASE,
        vhd=uploaded_vhd,
        return_state=True,
    )
    assert state.is_completed(), state.message

    settings = get_settings()
    async with clients.arm_credential() as credential:
        for target in enabled:
            name = managed_image_name(RELEASE, IMAGE, target.region)
            async with clients.compute_client(
                settings, credential, target.subscription_id
            ) as compute:
                image = await compute.images.get(target.image_resource_group, name)
            assert image.provisioning_state == "Succeeded"
            assert image.location == target.region
            account = stack.account(_account_of(image.storage_profile.os_disk.blob_uri))
            assert account is not None
            assert account.region == target.region
            assert account.subscription_id == target.subscription_id
        disabled = next(t for t in plan.targets if not t.enabled)
        async with clients.compute_client(
            settings, credential, disabled.subscription_id
        ) as compute:
            names = [i.name async for i in compute.images.list()]
        assert managed_image_name(RELEASE, IMAGE, disabled.region) not in names

    first, second = (
        BlobClient.from_connection_string(
            stack.connection_string(plan.tier0.storage_account),
            plan.tier0.container,
            tier1_blob_name(RELEASE, IMAGE, index),
        ).get_blob_properties()
        for index in (0, 1)
    )
    assert first.metadata["imagerelay_source"].endswith(uploaded_vhd)
    assert second.metadata["imagerelay_source"].endswith(
        tier1_blob_name(RELEASE, IMAGE, 0)
    ), "the second tier-1 copy reads from the first, not from the upload"

    table = TableClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), "imagerelayledger"
    )
    entities = list(
        table.query_entities(f"PartitionKey eq '{RELEASE}' and image_name eq '{IMAGE}'")
    )
    assert sorted(e["target_key"] for e in entities) == sorted(t.key for t in enabled)
    assert {e["state"] for e in entities} == {"done"}

    rows = await _artifact_rows(artifact_key(RELEASE, IMAGE, "targets"))
    assert len(rows) == len(enabled)
    assert {(r["subscription"], r["region"]) for r in rows} == {
        (t.subscription_id, t.region) for t in enabled
    }
    for row in rows:
        assert row["image id"].endswith(
            f"/images/{managed_image_name(RELEASE, IMAGE, row['region'])}"
        )


async def test_rerun_skips_done_targets_and_a_bad_target_fails_alone(
    stack: StackConfig, uploaded_vhd: str, tmp_path: Path
) -> None:
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    wrong = document["targets"][0]
    wrong["region"] = "eastus"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))
    plan = load_inventory(TEST_INVENTORY)
    copied_before = {t.key: _tier2_etag(stack, t) for t in plan.enabled_targets}

    state = await release_flow(
        os_type="Linux",
        image_name=IMAGE,
        release_id=RELEASE,
        vhd=uploaded_vhd,
        inventory=str(inventory),
        return_state=True,
    )
    assert state.is_failed()
    assert "1 of" in (state.message or "") and "eastus" in (state.message or "")

    rows = await _artifact_rows(artifact_key(RELEASE, IMAGE, "targets"))
    failed = [r for r in rows if r["state"] == "failed"]
    assert len(failed) == 1
    assert "is in westeurope, not eastus" in failed[0]["error"]
    done = [r for r in rows if r["state"] == "done"]
    assert len(done) == len(rows) - 1
    unchanged = {t.key: _tier2_etag(stack, t) for t in plan.enabled_targets[1:]}
    assert unchanged == {k: copied_before[k] for k in unchanged}, "copies were redone"


async def test_prefect_refusing_one_target_fails_it_alone_and_a_rerun_finishes(
    stack: StackConfig, uploaded_vhd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.release

    image = f"{IMAGE}-refused"
    refused = load_inventory(TEST_INVENTORY).enabled_targets[0]
    real = flows.release.distribute

    def refusing(release: Release, target: Target, *args: object, **kwargs: object):
        if target.key == refused.key:
            raise RuntimeError("Service Unavailable: database is locked")
        return real(release, target, *args, **kwargs)

    monkeypatch.setattr(flows.release, "distribute", refusing)
    state = await release_flow(
        os_type="Linux", image_name=image, release_id=RELEASE, vhd=uploaded_vhd,
        return_state=True,
    )  # fmt: skip

    assert state.is_failed()
    assert f"1 of {len(load_inventory(TEST_INVENTORY).enabled_targets)} targets" in (
        state.message or ""
    )
    rows = await _artifact_rows(artifact_key(RELEASE, image, "targets"))
    failed = [r for r in rows if r["state"] == "failed"]
    assert [r["account"] for r in failed] == [refused.storage_account]
    assert (
        "Prefect could not run this target: Service Unavailable" in (failed[0]["error"])
    )

    monkeypatch.undo()
    again = await release_flow(
        os_type="Linux", image_name=image, release_id=RELEASE, vhd=uploaded_vhd,
        return_state=True,
    )  # fmt: skip
    assert again.is_completed(), again.message


def _tier2_etag(stack: StackConfig, target: Target) -> str:
    blob = BlobClient.from_connection_string(
        stack.connection_string(target.storage_account),
        target.container,
        tier2_blob_name(RELEASE, IMAGE),
    )
    return str(blob.get_blob_properties().etag)


async def test_a_release_never_changes_its_vhd(
    stack: StackConfig, uploaded_vhd: str, tmp_path: Path
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    other = build_golden_vhd(tmp_path / "other.vhd", 24)
    name = upload_blob_name(RELEASE, other.name)
    blob = BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container, name
    )
    upload_vhd(other, blob, metadata={"imagerelay_os_type": "Linux"})
    copied_before = {t.key: _tier2_etag(stack, t) for t in plan.enabled_targets}

    state = await release_flow(
        os_type="Linux",
        image_name=IMAGE,
        release_id=RELEASE,
        vhd=name,
        return_state=True,
    )

    assert state.is_failed()
    assert "never changes its VHD" in (state.message or "")
    after = {t.key: _tier2_etag(stack, t) for t in plan.enabled_targets}
    assert after == copied_before


async def test_os_type_must_match_the_upload(
    stack: StackConfig, uploaded_vhd: str
) -> None:
    state = await release_flow(
        os_type="Windows",
        image_name="golden-windows",
        release_id=RELEASE,
        vhd=uploaded_vhd,
        return_state=True,
    )

    assert state.is_failed()
    assert "uploaded as OS type Linux" in (state.message or "")


async def test_a_release_shares_one_credential_across_its_targets(
    stack: StackConfig, uploaded_vhd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    original = clients.arm_credential

    def counted() -> DefaultAzureCredential:
        made.append(credential := original())
        return credential

    monkeypatch.setattr(clients, "arm_credential", counted)
    plan = load_inventory(TEST_INVENTORY)

    state = await release_flow(
        os_type="Linux",
        image_name="shared-clients",
        release_id=RELEASE,
        vhd=uploaded_vhd,
        return_state=True,
    )

    assert state.is_completed(), state.message
    assert len(plan.enabled_targets) >= 3
    assert len(made) == 1, "each target made its own credential"


async def test_ledger_records_many_targets_in_batches(stack: StackConfig) -> None:
    plan = load_inventory(TEST_INVENTORY)
    template = plan.targets[0]
    targets = [
        template.model_copy(update={"storage_account": f"batch{index:03d}"})
        for index in range(230)
    ]
    source = SourceVhd(account="a", container="c", blob="b", size=1, etag="e")
    release = Release(id="batch", image_name="many", os_type="Linux", source=source)
    async with TableServiceClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account)
    ) as tables:
        ledger = Ledger(tables.get_table_client("imagerelaybatchtest"))
        await ledger.ensure_table()
        await ledger.record_many(release, targets, TargetState.PENDING)
        await ledger.record(release, targets[5], TargetState.DONE)
        await ledger.record_many(release, targets[:3], TargetState.COPYING)
        entries = await ledger.entries("batch", "many")

    assert len(entries) == 230
    states = {e.storage_account: e.state for e in entries}
    assert states["batch005"] is TargetState.DONE
    assert states["batch001"] is TargetState.COPYING
    assert sum(s is TargetState.PENDING for s in states.values()) == 226
