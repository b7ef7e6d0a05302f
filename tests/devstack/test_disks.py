"""Microsoft.Compute/disks on the emulator, through unchanged azure-mgmt-compute."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import GrantAccessData
from azure.storage.blob import BlobClient

from devstack.config import StackAccount, StackConfig
from devstack.golden import build_golden_vhd
from imagerelay.vhd import FOOTER_SIZE, parse_footer
from tests.devstack.managed_disks import (
    import_body,
    import_disk,
    new_disk_name,
    upload_vhd,
)
from tests.imagerelay.disks import dynamic_vhd

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24 MiB fixed VHD built by qemu-img."""
    return build_golden_vhd(tmp_path_factory.mktemp("disks") / "golden.vhd", 24)


def _read(sas_url: str) -> bytes:
    with BlobClient.from_blob_url(sas_url) as blob:
        return blob.download_blob().readall()


def test_import_grant_read_revoke(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
) -> None:
    disk = import_disk(
        stack, account, vhd, osType="Linux", hyperVGeneration="V1", tags={"a": "b"}
    )
    rg = account.resource_group
    assert disk.provisioning_state == "Succeeded"
    assert disk.disk_state == "Unattached"
    assert disk.disk_size_bytes == vhd.stat().st_size - FOOTER_SIZE
    assert disk.disk_size_gb == 1
    assert (disk.os_type, disk.hyper_v_generation) == ("Linux", "V1")
    assert disk.creation_data.create_option == "Import"
    assert disk.location == account.region
    assert disk.name in [each.name for each in compute.disks.list_by_resource_group(rg)]

    access = compute.disks.begin_grant_access(
        rg, disk.name, GrantAccessData(access="Read", duration_in_seconds=600)
    ).result()
    assert "sig=" in access.access_sas
    assert compute.disks.get(rg, disk.name).disk_state == "ActiveSAS"
    content = _read(access.access_sas)
    assert hashlib.md5(content).digest() == hashlib.md5(vhd.read_bytes()).digest()

    with pytest.raises(HttpResponseError) as again:
        compute.disks.begin_grant_access(
            rg, disk.name, GrantAccessData(access="Read", duration_in_seconds=600)
        )
    assert (again.value.status_code, again.value.error.code) == (
        409,
        "OperationNotAllowed",
    )
    with pytest.raises(HttpResponseError) as busy:
        compute.disks.begin_delete(rg, disk.name)
    assert busy.value.status_code == 409

    compute.disks.begin_revoke_access(rg, disk.name).result()
    assert compute.disks.get(rg, disk.name).disk_state == "Unattached"
    with pytest.raises(HttpResponseError) as revoked:
        _read(access.access_sas)
    assert revoked.value.status_code == 403

    compute.disks.begin_delete(rg, disk.name).result()
    with pytest.raises(ResourceNotFoundError) as gone:
        compute.disks.get(rg, disk.name)
    assert gone.value.error.code == "ResourceNotFound"


def test_the_imported_disk_keeps_its_content_after_the_source_is_deleted(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
) -> None:
    source = upload_vhd(stack, account, vhd)
    name = new_disk_name()
    compute.disks.begin_create_or_update(
        account.resource_group, name, import_body(stack, account, source)
    ).result()
    BlobClient.from_blob_url(
        source, credential={"account_name": account.name, "account_key": account.key}
    ).delete_blob()

    access = compute.disks.begin_grant_access(
        account.resource_group,
        name,
        GrantAccessData(access="Read", duration_in_seconds=60),
    ).result()
    try:
        assert _read(access.access_sas) == vhd.read_bytes()
    finally:
        compute.disks.begin_revoke_access(account.resource_group, name).result()


def test_an_attached_disk_refuses_access_and_delete(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
) -> None:
    vm = (
        f"/subscriptions/{account.subscription_id}/resourceGroups/"
        f"{account.resource_group}/providers/Microsoft.Compute/virtualMachines/vm1"
    )
    source = upload_vhd(stack, account, vhd)
    body = {**import_body(stack, account, source, osType="Linux"), "managedBy": vm}
    name = new_disk_name()
    disk = compute.disks.begin_create_or_update(
        account.resource_group, name, body
    ).result()
    assert (disk.disk_state, disk.managed_by) == ("Attached", vm)

    with pytest.raises(HttpResponseError) as refused:
        compute.disks.begin_grant_access(
            account.resource_group,
            name,
            GrantAccessData(access="Read", duration_in_seconds=60),
        )
    assert refused.value.status_code == 409
    assert "attached to VM" in refused.value.error.message
    with pytest.raises(HttpResponseError):
        compute.disks.begin_delete(account.resource_group, name)


def test_an_empty_disk_exports_as_a_fixed_vhd(
    stack: StackConfig, account: StackAccount, compute: ComputeManagementClient
) -> None:
    name = new_disk_name()
    body = {
        "location": account.region,
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 3000},
    }
    disk = compute.disks.begin_create_or_update(
        account.resource_group, name, body
    ).result()
    assert disk.disk_size_bytes == 3000 * 1024**3
    assert disk.os_type is None

    access = compute.disks.begin_grant_access(
        account.resource_group,
        name,
        GrantAccessData(access="Read", duration_in_seconds=60),
    ).result()
    try:
        with BlobClient.from_blob_url(access.access_sas) as blob:
            size = blob.get_blob_properties().size
            footer = blob.download_blob(offset=size - 512, length=512).readall()
        assert size == disk.disk_size_bytes + FOOTER_SIZE
        parsed = parse_footer(footer)
        assert (parsed.disk_type_name, parsed.current_size) == (
            "fixed",
            disk.disk_size_bytes,
        )
    finally:
        compute.disks.begin_revoke_access(account.resource_group, name).result()
        compute.disks.begin_delete(account.resource_group, name).result()


def _other_region(stack: StackConfig, account: StackAccount) -> StackAccount:
    return next(a for a in stack.accounts if a.region != account.region)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("other region", 400, "BadRequest"),
        ("no storage account id", 400, "InvalidParameter"),
        ("wrong storage account id", 400, "InvalidParameter"),
        ("dynamic vhd", 400, "InvalidVhd"),
        ("missing blob", 400, "InvalidParameter"),
        ("sas in source uri", 400, "InvalidParameter"),
        ("unknown create option", 400, "InvalidParameter"),
    ],
)
def test_import_refusals(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
    tmp_path: Path,
    case: str,
    status: int,
    code: str,
) -> None:
    source = upload_vhd(stack, account, vhd)
    body = import_body(stack, account, source)
    creation = body["properties"]["creationData"]
    if case == "other region":
        other = _other_region(stack, account)
        body = import_body(stack, other, upload_vhd(stack, other, vhd))
        body["location"] = account.region
    elif case == "no storage account id":
        del creation["storageAccountId"]
    elif case == "wrong storage account id":
        other = _other_region(stack, account)
        creation["storageAccountId"] = import_body(stack, other, source)["properties"][
            "creationData"
        ]["storageAccountId"]
    elif case == "dynamic vhd":
        dynamic = tmp_path / "dynamic.vhd"
        raw = tmp_path / "raw.img"
        raw.write_bytes(bytes(24 * MIB))
        creation["sourceUri"] = upload_vhd(stack, account, dynamic_vhd(dynamic, raw))
    elif case == "missing blob":
        creation["sourceUri"] = source.replace(".vhd", f"-{uuid.uuid4().hex}.vhd")
    elif case == "sas in source uri":
        creation["sourceUri"] = source + "?sv=2024&sig=secret"
    elif case == "unknown create option":
        creation["createOption"] = "Copy"
    name = new_disk_name()

    with pytest.raises(HttpResponseError) as refused:
        compute.disks.begin_create_or_update(account.resource_group, name, body)

    assert (refused.value.status_code, refused.value.error.code) == (status, code)
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(account.resource_group, name)


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"access": "Write", "durationInSeconds": 60}, "access"),
        ({"access": "Read"}, "durationInSeconds"),
        ({"access": "Read", "durationInSeconds": -5}, "durationInSeconds"),
    ],
)
def test_grant_refuses_what_azure_refuses(
    stack: StackConfig,
    account: StackAccount,
    compute: ComputeManagementClient,
    vhd: Path,
    body: dict[str, object],
    target: str,
) -> None:
    disk = import_disk(stack, account, vhd, osType="Linux")

    with pytest.raises(HttpResponseError) as refused:
        compute.disks.begin_grant_access(account.resource_group, disk.name, body)

    assert (refused.value.status_code, refused.value.error.code) == (
        400,
        "InvalidParameter",
    )
    assert refused.value.error.target == target
    state = compute.disks.get(account.resource_group, disk.name).disk_state
    assert state == "Unattached"
