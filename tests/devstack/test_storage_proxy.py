"""The fault proxy in front of Azurite answers copies the way Azure does."""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    generate_blob_sas,
)

from devstack import faults
from devstack.config import StackConfig
from devstack.faults import FaultProfile
from devstack.processes import StackError

MIB = 1024 * 1024
CONTAINER = "proxytest"


@pytest.fixture
def blobs(stack: StackConfig) -> Iterator[tuple[str, BlobClient, BlobClient]]:
    """A source URL with a read SAS in one account and a destination in another."""
    source_account, destination_account = stack.accounts[0], stack.accounts[1]
    clients = []
    for account in (source_account, destination_account):
        service = BlobServiceClient.from_connection_string(
            stack.connection_string(account.name)
        )
        with contextlib.suppress(ResourceExistsError):
            service.create_container(CONTAINER)
        clients.append(service)
    source = clients[0].get_blob_client(CONTAINER, f"src-{time.time_ns()}.vhd")
    source.create_page_blob(8 * MIB)
    source.upload_page(b"\x01" * 4096, offset=0, length=4096)
    sas = generate_blob_sas(
        source_account.name,
        CONTAINER,
        source.blob_name,
        account_key=source_account.key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    destination = clients[1].get_blob_client(CONTAINER, f"dst-{time.time_ns()}.vhd")
    try:
        yield f"{source.url}?{sas}", source, destination
    finally:
        faults.set_profile(stack, FaultProfile())


def test_a_copy_stays_pending_with_progress_until_size_over_rate(
    stack: StackConfig, blobs: tuple[str, BlobClient, BlobClient]
) -> None:
    source_url, _, destination = blobs
    faults.set_profile(stack, FaultProfile(copy_mib_per_s=4))
    faults.reset_counters(stack)

    started = destination.start_copy_from_url(source_url)
    assert started["copy_status"] == "pending"
    seen = []
    while (props := destination.get_blob_properties()).copy.status == "pending":
        seen.append(int(str(props.copy.progress).split("/")[0]))
        time.sleep(0.3)

    assert props.copy.status == "success"
    assert props.copy.progress == f"{8 * MIB}/{8 * MIB}"
    assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] > seen[0]
    counters = faults.read_counters(stack).storage
    assert counters.copies_started == 1
    assert counters.max_copies_per_account == {
        stack.accounts[0].name: 1,
        stack.accounts[1].name: 1,
    }


def test_abort_leaves_an_empty_blob_and_writes_wait_for_the_copy(
    stack: StackConfig, blobs: tuple[str, BlobClient, BlobClient]
) -> None:
    source_url, _, destination = blobs
    faults.set_profile(stack, FaultProfile(copy_mib_per_s=1))
    faults.reset_counters(stack)
    copy_id = destination.start_copy_from_url(source_url)["copy_id"]

    with pytest.raises(HttpResponseError) as refused:
        destination.upload_page(b"\x02" * 512, offset=0, length=512)
    assert refused.value.error_code == "PendingCopyOperation"
    assert refused.value.status_code == 409
    container = ContainerClient.from_connection_string(
        stack.connection_string(stack.accounts[1].name), CONTAINER
    )
    (listed,) = container.list_blobs(name_starts_with=destination.blob_name)
    assert listed.copy.status == "pending"
    assert listed.copy.progress.endswith(f"/{8 * MIB}")
    with pytest.raises(HttpResponseError) as mismatch:
        destination.abort_copy("00000000-0000-0000-0000-000000000000")
    assert mismatch.value.error_code == "CopyIdMismatch"
    destination.abort_copy(copy_id)

    props = destination.get_blob_properties()
    assert props.copy.status == "aborted"
    assert props.size == 0
    with pytest.raises(HttpResponseError) as again:
        destination.abort_copy(copy_id)
    assert again.value.error_code == "NoPendingCopyOperation"
    assert faults.read_counters(stack).storage.copies_aborted == 1


def test_a_failing_copy_ends_failed_with_a_description(
    stack: StackConfig, blobs: tuple[str, BlobClient, BlobClient]
) -> None:
    source_url, _, destination = blobs
    faults.set_profile(stack, FaultProfile(copy_mib_per_s=32, copy_fail_share=1))

    destination.start_copy_from_url(source_url)
    time.sleep(0.5)

    props = destination.get_blob_properties()
    assert props.copy.status == "failed"
    assert "InternalError" in str(props.copy.status_description)
    assert props.size == 0


def test_throttled_requests_carry_retry_after(
    stack: StackConfig, blobs: tuple[str, BlobClient, BlobClient]
) -> None:
    _, source, _ = blobs
    faults.set_profile(
        stack, FaultProfile(throttle_share=1, retry_after_seconds=0.1, seed=3)
    )
    faults.reset_counters(stack)
    throttled = BlobClient.from_blob_url(
        source.url, credential=source.credential, retry_total=0
    )

    with pytest.raises(HttpResponseError) as busy:
        throttled.get_blob_properties()

    assert busy.value.status_code == 503
    assert busy.value.response is not None
    assert busy.value.response.headers["Retry-After"] == "0.1"
    assert faults.read_counters(stack).storage.faults == {"throttle": 1}


def test_storage_faults_need_the_proxy(stack: StackConfig) -> None:
    without = stack.model_copy(update={"azurite_port": None})

    with pytest.raises(StackError, match="--faults"):
        faults.set_profile(without, FaultProfile(drop_share=0.1))
