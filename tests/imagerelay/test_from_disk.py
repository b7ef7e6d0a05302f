"""`imagerelay upload --from-disk` end to end: a managed disk becomes an upload."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Disk, GrantAccessData
from azure.storage.blob import BlobClient, ContainerClient, generate_blob_sas
from typer.testing import CliRunner

from devstack.compute.disk_blobs import ACCESS_POLICY
from devstack.config import StackAccount, StackConfig
from devstack.golden import build_golden_vhd
from imagerelay.cli import app
from imagerelay.inventory import load_inventory
from tests.conftest import TEST_INVENTORY
from tests.devstack.managed_disks import (
    import_body,
    import_disk,
    new_disk_name,
    upload_vhd,
)

runner = CliRunner()


def _upload(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["upload", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24 MiB golden disk (MBR, ext4) converted to a fixed VHD by qemu-img."""
    return build_golden_vhd(tmp_path_factory.mktemp("from-disk") / "golden.vhd", 24)


@pytest.fixture(scope="module")
def tier0(stack: StackConfig) -> Iterator[ContainerClient]:
    plan = load_inventory(TEST_INVENTORY)
    with ContainerClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), plan.tier0.container
    ) as container:
        yield container


def _uploads(tier0: ContainerClient, release: str) -> list[str]:
    return list(tier0.list_blob_names(name_starts_with=f"uploads/{release}/"))


def _state(compute: ComputeManagementClient, disk: Disk) -> str:
    state = compute.disks.get(disk.id.split("/")[4], disk.name).disk_state
    return str(getattr(state, "value", state))


def test_a_disk_becomes_an_upload_with_the_file_md5_and_access_ends(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    tier0: ContainerClient,
    vhd: Path,
) -> None:
    disk = import_disk(stack, account, vhd, osType="Linux", hyperVGeneration="V1")

    code, output = _upload("--from-disk", disk.id, "--release", "fd.1")

    assert code == 0, output
    blob_name = f"uploads/fd.1/{disk.name}.vhd"
    assert output.strip().splitlines()[-1] == blob_name
    props = tier0.get_blob_client(blob_name).get_blob_properties()
    file_md5 = hashlib.md5(vhd.read_bytes()).digest()
    assert bytes(props.content_settings.content_md5) == file_md5
    assert props.size == vhd.stat().st_size
    assert props.blob_type == "PageBlob"
    stamps = props.metadata
    assert stamps["imagerelay_md5"] == base64.b64encode(file_md5).decode()
    assert stamps["imagerelay_release"] == "fd.1"
    assert stamps["imagerelay_os_type"] == "Linux"
    assert stamps["imagerelay_hyper_v_generation"] == "V1"
    assert stamps["imagerelay_image_name"] == "golden-linux"
    assert stamps["imagerelay_size"] == str(vhd.stat().st_size)
    assert stamps["imagerelay_source_disk"] == disk.id
    assert "sig=" not in output and "sig=" not in str(stamps)

    assert _state(compute, disk) == "Unattached"
    # The copy source is the disk's blob; the SAS the grant gave for it is bound to
    # a stored access policy and carries no times, so the same token can be made
    # again here. Revoking removed the policy: the command's SAS no longer reads.
    source = urlsplit(str(props.copy.source))
    disk_account, disk_container, disk_blob = source.path.strip("/").split("/")
    owner = stack.account(disk_account)
    assert owner is not None
    token = generate_blob_sas(
        owner.name,
        disk_container,
        disk_blob,
        account_key=owner.key,
        policy_id=ACCESS_POLICY,
    )
    access_sas = f"{source.scheme}://{source.netloc}{source.path}?{token}"
    with pytest.raises(HttpResponseError) as revoked:
        BlobClient.from_blob_url(access_sas).download_blob().readall()
    assert revoked.value.status_code == 403


def test_the_generation_given_overrides_the_disk_and_the_os_must_agree(
    stack: StackConfig,
    account: StackAccount,
    tier0: ContainerClient,
    vhd: Path,
) -> None:
    disk = import_disk(stack, account, vhd, osType="Linux")

    code, output = _upload(
        "--from-disk", disk.id, "--release", "fd.2", "--os-type", "windows"
    )
    assert code == 2
    assert "is a Linux disk" in output
    assert _uploads(tier0, "fd.2") == []

    code, output = _upload(
        "--from-disk", disk.id, "--release", "fd.2", "--hyper-v-generation", "V2"
    )
    assert code == 0, output
    props = tier0.get_blob_client(f"uploads/fd.2/{disk.name}.vhd").get_blob_properties()
    assert props.metadata["imagerelay_hyper_v_generation"] == "V2"

    code, output = _upload("--from-disk", disk.id, "--release", "fd.2")
    assert code == 2
    assert "--replace" in output


def _empty_disk(
    compute: ComputeManagementClient,
    account: StackAccount,
    size_gb: int,
    **extra: object,
) -> Disk:
    body = {
        "location": account.region,
        "properties": {
            "creationData": {"createOption": "Empty"},
            "diskSizeGB": size_gb,
            "osType": "Linux",
        },
        **extra,
    }
    return compute.disks.begin_create_or_update(
        account.resource_group, new_disk_name(), body
    ).result()


def test_refusals_name_the_fix_and_leave_nothing_in_tier0(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    tier0: ContainerClient,
    vhd: Path,
) -> None:
    sub, rg = account.subscription_id, account.resource_group
    group = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute"
    missing = f"{group}/disks/nope"
    attached = compute.disks.begin_create_or_update(
        rg,
        new_disk_name(),
        {
            **import_body(stack, account, upload_vhd(stack, account, vhd)),
            "managedBy": f"{group}/virtualMachines/vm1",
        },
    ).result()
    data = import_disk(stack, account, vhd)
    too_big = _empty_disk(compute, account, 3000)
    shared = import_disk(stack, account, vhd, osType="Linux")
    compute.disks.begin_grant_access(
        rg, shared.name, GrantAccessData(access="Read", duration_in_seconds=600)
    ).result()

    cases = {
        "/subscriptions/x/disks/y": "not a managed disk resource id",
        missing.replace(sub, "my-sub"): "is not a subscription id (a GUID)",
        missing.replace(sub, "0badc0de-0000-4000-8000-000000000000"): (
            "az account list"
        ),
        missing: "was not found",
        attached.id: "attached to VM",
        data.id: "data disk",
        too_big.id: "2 TiB",
        shared.id: "revoke-access",
    }
    try:
        for disk_id, expected in cases.items():
            code, output = _upload("--from-disk", disk_id, "--release", "fd.3")
            assert code == 2, (disk_id, output)
            assert expected in output, output
            assert "Traceback" not in output
        assert _uploads(tier0, "fd.3") == []
        assert _state(compute, too_big) == "Unattached"
        assert _state(compute, shared) == "ActiveSAS", "someone else's SAS is kept"
    finally:
        compute.disks.begin_revoke_access(rg, shared.name).result()


def test_a_failure_after_the_grant_still_revokes_and_cleans_up(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
    tmp_path: Path,
) -> None:
    disk = import_disk(stack, account, vhd, osType="Linux")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        TEST_INVENTORY.read_text().replace("container: golden", "container: nosuch")
    )

    code, output = _upload(
        "--from-disk", disk.id, "--release", "fd.4", "--inventory", str(inventory)
    )

    assert code == 2
    assert "container nosuch does not exist" in output
    assert _state(compute, disk) == "Unattached"


@pytest.mark.parametrize("phase", ["access granted", "checksum"])
def test_sigterm_revokes_access_and_deletes_the_copy(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    tier0: ContainerClient,
    phase: str,
) -> None:
    """A 256 GiB empty disk, so the checksum of its copy takes minutes."""
    disk = _empty_disk(compute, account, 256)
    release = f"fd.5.{phase.split()[0]}"
    command = [sys.executable, "-c", "from imagerelay.cli import main; main()"]
    command += ["upload", "--from-disk", disk.id, "--release", release]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    blob = tier0.get_blob_client(f"uploads/{release}/{disk.name}.vhd")
    reached = {
        "access granted": lambda: _state(compute, disk) == "ActiveSAS",
        "checksum": blob.exists,
    }[phase]
    try:
        deadline = time.monotonic() + 60
        while not reached():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"never reached {phase}"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode != 0
    assert "Traceback" not in stderr.decode()
    assert not blob.exists()
    assert _state(compute, disk) == "Unattached"
