"""The Microsoft.Compute emulator, driven through the unchanged Azure SDK clients."""

from __future__ import annotations

import json
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential as SyncManagedIdentityCredential
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.storage.blob import BlobServiceClient

from devstack.compute.image_request import parse_image_request
from devstack.compute.images import ImageStore, image_from_request
from devstack.compute.state_files import StateTable
from devstack.compute.vhd_check import check_fixed_vhd
from devstack.config import StackAccount, StackConfig

MIB = 1024 * 1024
VIRTUAL_SIZE = 20 * MIB
ARM_SCOPE = "https://management.azure.com/.default"


def vhd_footer(
    virtual_size: int, disk_type: int = 2, cookie: bytes = b"conectix"
) -> bytes:
    """A VHD footer built from the spec, with a correct checksum."""
    sectors = min(virtual_size // 512, 65535 * 16 * 255)
    heads, sectors_per_track = 16, 255
    cylinders = sectors // (heads * sectors_per_track)
    footer = bytearray(512)
    struct.pack_into(
        ">8sIIQI4sI4sQQHBBI",
        footer,
        0,
        cookie,
        2,
        0x00010000,
        0xFFFFFFFFFFFFFFFF,
        0,
        b"test",
        0x00010000,
        b"Wi2k",
        virtual_size,
        virtual_size,
        cylinders,
        heads,
        sectors_per_track,
        disk_type,
    )
    footer[68:84] = uuid.uuid4().bytes
    checksum = ~sum(footer) & 0xFFFFFFFF
    struct.pack_into(">I", footer, 64, checksum)
    return bytes(footer)


def damaged_checksum(footer: bytes) -> bytes:
    """The footer with one checksum bit flipped."""
    broken = bytearray(footer)
    broken[67] ^= 0x01
    return bytes(broken)


@dataclass(frozen=True)
class Placement:
    """An account and the image resource group and region that go with it."""

    account: StackAccount
    container: str

    def url(self, stack: StackConfig, blob: str) -> str:
        return f"http://{stack.host}:{stack.blob_port}/{self.account.name}/{self.container}/{blob}"


def upload_page_vhd(
    stack: StackConfig, placement: Placement, blob: str, footer: bytes, size: int
) -> None:
    """A sparse page blob of `size` bytes whose last 512 bytes are `footer`."""
    service = BlobServiceClient.from_connection_string(
        stack.connection_string(placement.account.name)
    )
    with service:
        container = service.get_container_client(placement.container)
        if not container.exists():
            container.create_container()
        client = container.get_blob_client(blob)
        client.create_page_blob(size)
        client.upload_page(footer, offset=size - 512, length=512)


def home_account(stack: StackConfig) -> StackAccount:
    """An account whose subscription also holds an account in another region."""
    for account in stack.accounts:
        if any(
            other.subscription_id == account.subscription_id
            and other.region != account.region
            for other in stack.accounts
        ):
            return account
    return stack.accounts[0]


@pytest.fixture(scope="module")
def home(stack: StackConfig) -> Iterator[Placement]:
    placement = Placement(home_account(stack), f"compute-test-{uuid.uuid4().hex[:8]}")
    size = VIRTUAL_SIZE + 512
    good = vhd_footer(VIRTUAL_SIZE)
    upload_page_vhd(stack, placement, "good.vhd", good, size)
    upload_page_vhd(stack, placement, "checksum.vhd", damaged_checksum(good), size)
    upload_page_vhd(
        stack, placement, "dynamic.vhd", vhd_footer(VIRTUAL_SIZE, disk_type=3), size
    )
    upload_page_vhd(
        stack,
        placement,
        "cookie.vhd",
        vhd_footer(VIRTUAL_SIZE, cookie=b"notavhd!"),
        size,
    )
    odd = VIRTUAL_SIZE + 512
    upload_page_vhd(stack, placement, "odd.vhd", vhd_footer(odd), odd + 512)
    upload_page_vhd(stack, placement, "short.vhd", good, size + 512)
    service = BlobServiceClient.from_connection_string(
        stack.connection_string(placement.account.name)
    )
    with service:
        service.get_blob_client(placement.container, "block.vhd").upload_blob(
            bytes(1024) + good
        )
    yield placement


def elsewhere(
    stack: StackConfig, home: Placement, same_subscription: bool
) -> Placement:
    """A placement in another region of the subscription, or in another one."""
    for account in stack.accounts:
        same_sub = account.subscription_id == home.account.subscription_id
        if same_sub == same_subscription and (
            not same_sub or account.region != home.account.region
        ):
            placement = Placement(account, home.container)
            upload_page_vhd(
                stack,
                placement,
                "good.vhd",
                vhd_footer(VIRTUAL_SIZE),
                VIRTUAL_SIZE + 512,
            )
            return placement
    pytest.skip("the stack has no account there")


@pytest.fixture(scope="module")
async def credential() -> AsyncIterator[DefaultAzureCredential]:
    async with DefaultAzureCredential() as credential:
        yield credential


@pytest.fixture(scope="module")
async def compute(
    stack: StackConfig, credential: DefaultAzureCredential, home: Placement
) -> AsyncIterator[ComputeManagementClient]:
    async with ComputeManagementClient(
        credential,
        home.account.subscription_id,
        base_url=stack.arm_endpoint,
        connection_verify=str(stack.cert_path),
    ) as client:
        yield client


def image_body(location: str, blob_uri: str, **os_disk: str) -> dict[str, object]:
    disk = {"osType": "Linux", "osState": "Generalized", "blobUri": blob_uri, **os_disk}
    return {
        "location": location,
        "properties": {"storageProfile": {"osDisk": disk}, "hyperVGeneration": "V2"},
    }


def new_name() -> str:
    return f"img-{uuid.uuid4().hex[:10]}"


async def test_identity_endpoint_serves_azure_identity(stack: StackConfig) -> None:
    async with DefaultAzureCredential() as credential:
        token = await credential.get_token(ARM_SCOPE)
    assert token.token.count(".") == 2
    assert token.expires_on > time.time() + 3600

    sync_token = SyncManagedIdentityCredential().get_token(ARM_SCOPE)
    assert sync_token.token.count(".") == 2


async def test_image_round_trip(
    stack: StackConfig, compute: ComputeManagementClient, home: Placement
) -> None:
    rg, name, location = home.account.resource_group, new_name(), home.account.region
    body = image_body(location, home.url(stack, "good.vhd"))

    poller = await compute.images.begin_create_or_update(rg, name, body)
    assert (await compute.images.get(rg, name)).provisioning_state == "Creating"
    image = await poller.result()
    assert image.provisioning_state == "Succeeded"
    assert image.storage_profile.os_disk.blob_uri == home.url(stack, "good.vhd")
    assert image.storage_profile.os_disk.os_type == "Linux"
    assert image.hyper_v_generation == "V2"
    assert image.location == location

    in_group = [each.name async for each in compute.images.list_by_resource_group(rg)]
    in_subscription = [each.name async for each in compute.images.list()]
    assert name in in_group and name in in_subscription

    body["tags"] = {"release": "2026.12"}
    updated = await (
        await compute.images.begin_create_or_update(rg, name, body)
    ).result()
    assert updated.tags == {"release": "2026.12"}
    assert updated.provisioning_state == "Succeeded"

    await (await compute.images.begin_delete(rg, name)).result()
    with pytest.raises(ResourceNotFoundError) as missing:
        await compute.images.get(rg, name)
    assert missing.value.error.code == "ResourceNotFound"
    await (await compute.images.begin_delete(rg, name)).result()


async def test_change_of_source_is_refused(
    stack: StackConfig, compute: ComputeManagementClient, home: Placement
) -> None:
    rg, name, location = home.account.resource_group, new_name(), home.account.region
    await compute.images.begin_create_or_update(
        rg, name, image_body(location, home.url(stack, "good.vhd"))
    )
    with pytest.raises(HttpResponseError) as refused:
        await compute.images.begin_create_or_update(
            rg, name, image_body(location, home.url(stack, "other.vhd"))
        )
    assert (refused.value.status_code, refused.value.error.code) == (
        409,
        "PropertyChangeNotAllowed",
    )


REFUSALS: dict[
    str, tuple[Callable[[StackConfig, Placement], tuple[str, dict]], int, str]
] = {
    "name starts with dash": (
        lambda s, h: ("-bad", image_body(h.account.region, h.url(s, "good.vhd"))),
        400,
        "InvalidParameter",
    ),
    "name ends with dot": (
        lambda s, h: ("bad.", image_body(h.account.region, h.url(s, "good.vhd"))),
        400,
        "InvalidParameter",
    ),
    "name of 81 characters": (
        lambda s, h: ("a" * 81, image_body(h.account.region, h.url(s, "good.vhd"))),
        400,
        "InvalidParameter",
    ),
    "no location": (
        lambda s, h: (
            new_name(),
            {"properties": image_body("x", h.url(s, "good.vhd"))["properties"]},
        ),
        400,
        "LocationRequired",
    ),
    "no osType": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "good.vhd"), osType=""),
        ),
        400,
        "InvalidParameter",
    ),
    "bad osState": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "good.vhd"), osState="Sleepy"),
        ),
        400,
        "InvalidParameter",
    ),
    "no blobUri": (
        lambda s, h: (new_name(), image_body(h.account.region, "")),
        400,
        "InvalidParameter",
    ),
    "unknown account": (
        lambda s, h: (
            new_name(),
            image_body(
                h.account.region, "https://nosuchacct.blob.core.windows.net/c/good.vhd"
            ),
        ),
        400,
        "InvalidParameter",
    ),
    "missing blob, public URL form": (
        lambda s, h: (
            new_name(),
            image_body(
                h.account.region,
                f"https://{h.account.name}.blob.core.windows.net/{h.container}/missing.vhd",
            ),
        ),
        400,
        "InvalidParameter",
    ),
    "missing blob": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "missing.vhd")),
        ),
        400,
        "InvalidParameter",
    ),
    "not a .vhd name": (
        lambda s, h: (new_name(), image_body(h.account.region, h.url(s, "good.img"))),
        400,
        "InvalidParameter",
    ),
    "blob URI with a SAS": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "good.vhd") + "?sv=1&sig=abc"),
        ),
        400,
        "InvalidParameter",
    ),
    "block blob": (
        lambda s, h: (new_name(), image_body(h.account.region, h.url(s, "block.vhd"))),
        400,
        "InvalidParameter",
    ),
    "bad checksum": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "checksum.vhd")),
        ),
        400,
        "InvalidVhd",
    ),
    "dynamic disk": (
        lambda s, h: (
            new_name(),
            image_body(h.account.region, h.url(s, "dynamic.vhd")),
        ),
        400,
        "InvalidVhd",
    ),
    "no conectix cookie": (
        lambda s, h: (new_name(), image_body(h.account.region, h.url(s, "cookie.vhd"))),
        400,
        "InvalidVhd",
    ),
    "size not whole MiB": (
        lambda s, h: (new_name(), image_body(h.account.region, h.url(s, "odd.vhd"))),
        400,
        "InvalidVhd",
    ),
    "blob size not virtual + 512": (
        lambda s, h: (new_name(), image_body(h.account.region, h.url(s, "short.vhd"))),
        400,
        "InvalidVhd",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_image_put_refusals(
    case: str, stack: StackConfig, compute: ComputeManagementClient, home: Placement
) -> None:
    make, status, code = REFUSALS[case]
    name, body = make(stack, home)
    with pytest.raises(HttpResponseError) as refused:
        await compute.images.begin_create_or_update(
            home.account.resource_group, name, body
        )
    assert (refused.value.status_code, refused.value.error.code) == (status, code), (
        refused.value.message
    )


async def test_blob_in_another_region_is_refused(
    stack: StackConfig, compute: ComputeManagementClient, home: Placement
) -> None:
    other = elsewhere(stack, home, same_subscription=True)
    body = image_body(home.account.region, other.url(stack, "good.vhd"))
    with pytest.raises(HttpResponseError) as refused:
        await compute.images.begin_create_or_update(
            home.account.resource_group, new_name(), body
        )
    assert (refused.value.status_code, refused.value.error.code) == (400, "BadRequest")
    assert other.account.region in refused.value.message


async def test_blob_in_another_subscription_is_refused(
    stack: StackConfig, compute: ComputeManagementClient, home: Placement
) -> None:
    other = elsewhere(stack, home, same_subscription=False)
    body = image_body(home.account.region, other.url(stack, "good.vhd"))
    with pytest.raises(HttpResponseError) as refused:
        await compute.images.begin_create_or_update(
            home.account.resource_group, new_name(), body
        )
    assert (refused.value.status_code, refused.value.error.code) == (
        400,
        "InvalidParameter",
    )
    assert other.account.subscription_id in refused.value.message


async def test_image_location_may_differ_from_resource_group(
    stack: StackConfig, credential: DefaultAzureCredential, home: Placement
) -> None:
    pairs = [
        (account, group)
        for account in stack.accounts
        for group in stack.resource_groups
        if group.subscription_id == account.subscription_id
        and group.region != account.region
    ]
    if not pairs:
        pytest.skip("no resource group in another region than an account")
    account, group = pairs[0]
    placement = Placement(account, home.container)
    upload_page_vhd(
        stack, placement, "good.vhd", vhd_footer(VIRTUAL_SIZE), VIRTUAL_SIZE + 512
    )
    async with ComputeManagementClient(
        credential,
        account.subscription_id,
        base_url=stack.arm_endpoint,
        connection_verify=str(stack.cert_path),
    ) as client:
        body = image_body(account.region, placement.url(stack, "good.vhd"))
        poller = await client.images.begin_create_or_update(
            group.name, new_name(), body
        )
        assert (await poller.result()).location == account.region


async def test_missing_image_and_resource_group(
    compute: ComputeManagementClient, home: Placement
) -> None:
    with pytest.raises(ResourceNotFoundError) as image:
        await compute.images.get(home.account.resource_group, "no-such-image")
    assert image.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as group:
        await compute.images.get("no-such-group", "img")
    assert group.value.error.code == "ResourceGroupNotFound"


async def test_storage_account_properties(
    stack: StackConfig, credential: DefaultAzureCredential
) -> None:
    account = stack.accounts[0]
    async with StorageManagementClient(
        credential,
        account.subscription_id,
        base_url=stack.arm_endpoint,
        connection_verify=str(stack.cert_path),
    ) as client:
        found = await client.storage_accounts.get_properties(
            account.resource_group, account.name
        )
        assert found.location == account.region
        assert found.provisioning_state == "Succeeded"
        assert (
            found.primary_endpoints.blob
            == f"http://{stack.host}:{stack.blob_port}/{account.name}/"
        )
        with pytest.raises(ResourceNotFoundError) as missing:
            await client.storage_accounts.get_properties(
                account.resource_group, "nosuchaccount"
            )
        assert missing.value.error.code == "ResourceNotFound"
        with pytest.raises(ResourceNotFoundError) as no_group:
            await client.storage_accounts.get_properties("no-such-group", account.name)
        assert no_group.value.error.code == "ResourceGroupNotFound"


def raw_arm_get(stack: StackConfig, path: str, token: str | None) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(stack.cert_path))
    request = urllib.request.Request(stack.arm_endpoint + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_arm_requires_token_and_api_version(
    stack: StackConfig, credential: DefaultAzureCredential
) -> None:
    account = stack.accounts[0]
    path = (
        f"/subscriptions/{account.subscription_id}/providers/Microsoft.Compute/images"
    )
    status, body = raw_arm_get(stack, path + "?api-version=2024-11-01", None)
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")
    status, body = raw_arm_get(stack, path + "?api-version=2024-11-01", "not-a-token")
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
    token = (await credential.get_token(ARM_SCOPE)).token
    status, body = raw_arm_get(stack, path, token)
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")
    status, body = raw_arm_get(stack, path + "?api-version=2024-11-01", token)
    assert status == 200 and "value" in body


def test_images_survive_a_restart(tmp_path: Path) -> None:
    request = parse_image_request(image_body("West Europe", "http://h/a/c/b.vhd"))
    image = image_from_request("sub", "rg", "Img", request, VIRTUAL_SIZE, ready_at=0.0)
    ImageStore(StateTable(tmp_path, "images"), delete_seconds=1.0).put(image)
    reloaded = ImageStore(StateTable(tmp_path, "images"), delete_seconds=1.0)
    assert reloaded.get("SUB", "RG", "img") == image
    assert image.body(time.time())["location"] == "westeurope"


def test_footer_check_accepts_qemu_fixed_vhd(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "vpc",
            "-o",
            "subformat=fixed,force_size=on",
            str(path),
            "20M",
        ],
        check=True,
    )
    footer = path.read_bytes()[-512:]
    assert (
        check_fixed_vhd(footer, path.stat().st_size, str(path)).virtual_size
        == VIRTUAL_SIZE
    )
    assert (
        check_fixed_vhd(vhd_footer(VIRTUAL_SIZE), VIRTUAL_SIZE + 512, "x").virtual_size
        == VIRTUAL_SIZE
    )
