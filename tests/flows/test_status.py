"""`imagerelay status` after real releases on the local stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from azure.storage.blob import BlobClient
from typer.testing import CliRunner

from devstack.config import StackConfig
from devstack.golden import build_golden_vhd
from flows.release import release_flow
from imagerelay.cli import app
from imagerelay.inventory import load_inventory
from imagerelay.naming import upload_blob_name
from imagerelay.upload import upload_vhd
from tests.conftest import TEST_INVENTORY

RELEASE = "2026.10-status"
IMAGE = "status-linux"
runner = CliRunner()


@pytest.fixture(scope="module")
def status_vhd(stack: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> str:
    plan = load_inventory(TEST_INVENTORY)
    path = build_golden_vhd(tmp_path_factory.mktemp("status") / "status.vhd", 24)
    name = upload_blob_name(RELEASE, path.name)
    blob = BlobClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container, name
    )
    upload_vhd(path, blob, metadata={"imagerelay_os_type": "Linux"})
    return name


async def _status(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, ["status", *args])
    return result.exit_code, result.output


def _row(output: str, first_cell: str) -> list[str]:
    """The cells of the rich table row that starts with first_cell."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{output}")


async def test_status_counts_a_completed_release_and_links_its_run(
    stack: StackConfig, status_vhd: str
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    enabled = len(plan.enabled_targets)
    state = await release_flow(
        os_type="Linux",
        image_name=IMAGE,
        release_id=RELEASE,
        vhd=status_vhd,
        return_state=True,
    )
    assert state.is_completed(), state.message

    code, output = await _status(RELEASE)

    assert code == 0, output
    assert _row(output, IMAGE) == [
        IMAGE,
        str(enabled),
        f"{plan.tier0.tier1_copies}/{plan.tier0.tier1_copies}",
        str(enabled),
        "0",
        "0",
        str(enabled),
        "0",
        _row(output, IMAGE)[-1],
    ]
    run = _row(output, f"release-{RELEASE}-{IMAGE}")
    assert run[1] == "Completed"
    assert f"/runs/flow-run/{state.state_details.flow_run_id}" in run[3]
    assert "Prefect UI: http" in output

    newest_code, newest = await _status()
    assert newest_code == 0
    assert f"Release {RELEASE}" in newest, "without an id, the newest release"


async def test_status_exits_1_and_names_failed_targets(
    stack: StackConfig, status_vhd: str, tmp_path: Path
) -> None:
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    document["targets"][0]["region"] = "eastus"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))
    plan = load_inventory(inventory)
    enabled = len(plan.enabled_targets)
    state = await release_flow(
        os_type="Linux",
        image_name=f"{IMAGE}-bad",
        release_id=RELEASE,
        vhd=status_vhd,
        inventory=str(inventory),
        return_state=True,
    )
    assert state.is_failed()

    code, output = await _status(RELEASE)

    assert code == 1, output
    row = _row(output, f"{IMAGE}-bad")
    assert row[1:8] == [
        str(enabled),
        "2/2",
        str(enabled - 1),
        "0",
        "1",
        str(enabled - 1),
        "0",
    ]
    assert "is in westeurope, not eastus" in output
    assert "1 targets failed" in output
    assert _row(output, IMAGE)[6] == str(enabled), "the other image is unaffected"


async def test_status_of_an_unknown_release_exits_2(stack: StackConfig) -> None:
    code, output = await _status("1999.01")

    assert code == 2
    assert "no release 1999.01" in output
