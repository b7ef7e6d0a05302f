"""The cleanup flow and `imagerelay cleanup` against releases on the local stack."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from azure.storage.blob import BlobServiceClient
from typer.testing import CliRunner

from devstack.config import StackConfig
from devstack.golden import build_golden_vhd
from flows.cleanup import cleanup_flow
from flows.release import release_flow
from imagerelay import clients
from imagerelay.cli import app
from imagerelay.inventory import load_inventory
from imagerelay.naming import (
    managed_image_name,
    tier1_blob_name,
    tier2_blob_name,
    upload_blob_name,
)
from imagerelay.settings import get_settings
from imagerelay.upload import upload_vhd
from tests.conftest import TEST_INVENTORY

IMAGE = "clean-linux"
OLD, NEW = "2026.05-clean", "2026.06-clean"
runner = CliRunner()


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo inventory with only its first two targets enabled."""
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    for index, target in enumerate(document["targets"]):
        target["enabled"] = index < 2
    path = tmp_path_factory.mktemp("cleanup") / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
async def two_releases(
    stack: StackConfig, two_targets: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """Releases OLD and NEW of IMAGE, each from its own VHD, both complete."""
    plan = load_inventory(two_targets)
    service = _service(stack, plan.tier0.storage_account)
    for release in (OLD, NEW):
        path = build_golden_vhd(tmp_path_factory.mktemp(release) / "clean.vhd", 21)
        name = upload_blob_name(release, path.name)
        upload_vhd(
            path,
            service.get_blob_client(plan.tier0.container, name),
            metadata={"imagerelay_os_type": "Linux"},
        )
        state = await release_flow(
            os_type="Linux",
            image_name=IMAGE,
            release_id=release,
            vhd=name,
            inventory=str(two_targets),
            return_state=True,
        )
        assert state.is_completed(), state.message
    return [OLD, NEW]


@pytest.fixture
def cleanup_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("IMAGERELAY_CLEANUP_TIER1", "true")
    monkeypatch.setenv("IMAGERELAY_CLEANUP_TIER2", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _service(stack: StackConfig, account: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string(account))


def _vhds(stack: StackConfig, inventory: Path) -> set[str]:
    """Every tier-1 and tier-2 VHD of IMAGE's releases that still exists."""
    plan = load_inventory(inventory)
    found = set()
    tier0 = _service(stack, plan.tier0.storage_account)
    for release in (OLD, NEW):
        for index in range(plan.tier0.tier1_copies):
            name = tier1_blob_name(release, IMAGE, index)
            if tier0.get_blob_client(plan.tier0.container, name).exists():
                found.add(f"tier0/{name}")
        for target in plan.enabled_targets:
            blob = _service(stack, target.storage_account).get_blob_client(
                target.container, tier2_blob_name(release, IMAGE)
            )
            if blob.exists():
                found.add(f"{target.storage_account}/{release}")
    return found


async def _images(inventory: Path) -> set[str]:
    plan = load_inventory(inventory)
    names = set()
    async with clients.arm_credential() as credential:
        for target in plan.enabled_targets:
            async with clients.compute_client(
                get_settings(), credential, target.subscription_id
            ) as compute:
                async for image in compute.images.list_by_resource_group(
                    target.image_resource_group
                ):
                    if image.name.startswith(f"{IMAGE}-"):
                        names.add(image.name)
    return names


async def _cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, ["cleanup", *args])
    return result.exit_code, result.output


async def test_cleanup_refuses_a_release_that_is_not_complete(
    stack: StackConfig, two_releases: list[str], two_targets: Path, tmp_path: Path
) -> None:
    document = yaml.safe_load(two_targets.read_text())
    document["targets"][0]["region"] = "eastus"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    plan = load_inventory(two_targets)
    vhd = upload_blob_name(NEW, "clean.vhd")
    state = await release_flow(
        os_type="Linux",
        image_name=f"{IMAGE}-bad",
        release_id=NEW,
        vhd=vhd,
        inventory=str(broken),
        return_state=True,
    )
    assert state.is_failed()

    refused = await cleanup_flow(
        release_id=NEW, image_name=f"{IMAGE}-bad", return_state=True
    )

    assert refused.is_failed()
    assert f"release {NEW} is not complete: 1 targets" in (refused.message or "")
    assert f"eastus/{plan.targets[0].storage_account} (failed)" in (
        refused.message or ""
    )
    code, output = await _cli("--release", NEW, "--image-name", f"{IMAGE}-bad")
    assert code == 2
    assert "re-run the release until it completes" in output
    tier1 = tier1_blob_name(NEW, f"{IMAGE}-bad", 0)
    assert (
        _service(stack, plan.tier0.storage_account)
        .get_blob_client(plan.tier0.container, tier1)
        .exists()
    ), "nothing was deleted"


async def test_an_empty_release_or_image_name_is_refused_not_read_as_all(
    stack: StackConfig, two_releases: list[str], two_targets: Path
) -> None:
    vhds_before = _vhds(stack, two_targets)
    images_before = await _images(two_targets)

    state = await cleanup_flow(release_id="", keep=1, return_state=True)
    code, output = await _cli("--image-name", " ", "--keep", "1")

    assert state.is_failed()
    assert "--release is empty" in (state.message or "")
    assert code == 2
    assert "--image-name is empty, which would select everything" in output
    assert _vhds(stack, two_targets) == vhds_before
    assert await _images(two_targets) == images_before


async def test_cleanup_of_one_release_lists_no_other_releases_images(
    two_releases: list[str], two_targets: Path
) -> None:
    plan = load_inventory(two_targets)
    args = ["--release", NEW, "--image-name", IMAGE, "--keep", "1"]

    code, output = await _cli("--dry-run", *args, "--inventory", str(two_targets))

    assert code == 0, output
    for target in plan.enabled_targets:
        assert managed_image_name(OLD, IMAGE, target.region) not in output
    assert "nothing to delete; VHD cleanup is off (IMAGERELAY_CLEANUP_TIER1" in output


async def test_dry_run_lists_and_keeps_then_cleanup_deletes(
    stack: StackConfig,
    two_releases: list[str],
    two_targets: Path,
    cleanup_configured: None,
) -> None:
    plan = load_inventory(two_targets)
    copies, targets = plan.tier0.tier1_copies, len(plan.enabled_targets)
    vhds_before = _vhds(stack, two_targets)
    images_before = await _images(two_targets)
    assert len(vhds_before) == 2 * (copies + targets)
    old_images = {
        managed_image_name(OLD, IMAGE, t.region) for t in plan.enabled_targets
    }
    assert old_images < images_before

    args = ["--image-name", IMAGE, "--keep", "1", "--inventory", str(two_targets)]
    code, output = await _cli("--dry-run", *args)

    assert code == 0, output
    expected = f"would delete {targets} images, {2 * copies} tier-1 VHDs, "
    assert expected + f"{2 * targets} tier-2 VHDs" in output
    for name in old_images:
        assert name in output
    assert _vhds(stack, two_targets) == vhds_before
    assert await _images(two_targets) == images_before

    code, output = await _cli(*args)

    assert code == 0, output
    assert "cleanup deleted" in output
    assert _vhds(stack, two_targets) == set()
    assert await _images(two_targets) == images_before - old_images

    code, output = await _cli(*args)
    assert code == 0, output
    assert "nothing to delete" in output, "a second run finds nothing left"
