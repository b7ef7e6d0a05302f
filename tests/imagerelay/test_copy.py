"""Server-side copies: resume, verify, time out and refuse, at the Azure call seam."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobServiceClient

from devstack.config import StackConfig
from imagerelay.copy import (
    CopyFailed,
    CopyRefused,
    CopyTimedOut,
    copy_blob,
    copy_blob_from_any,
    copy_metadata,
)
from imagerelay.errors import PermanentError
from imagerelay.sas import read_sas_url

SIZE = 21 * 2**20 + 512
SOURCE = "https://src.blob.core.windows.net/golden/tier1.vhd?sv=1&sig=SECRET"
METADATA = copy_metadata("2026.12", SOURCE, '"0x8DABC"', SIZE, "bWQ1")


def props(status: str | None, *, size: int = SIZE, etag: str = "0x8DABC") -> Any:
    """Blob properties as Azure reports them during and after a copy."""
    blob = BlobProperties()
    blob.size = size
    blob.metadata = {**METADATA, "imagerelay_source_etag": etag}
    blob.copy.status = status
    blob.copy.id = "copy-1"
    blob.copy.progress = f"{size // 2}/{size}"
    blob.copy.status_description = "500 InternalError" if status == "failed" else None
    return blob


class Destination:
    """A destination blob whose properties follow a script, one per read."""

    url = "https://dst.blob.core.windows.net/vhds/2026.12/golden.vhd"
    container_name = "vhds"
    account_name = "dst"

    def __init__(self, existing: Any, *later: Any) -> None:
        self.existing = existing
        self.later = list(later)
        self.started: list[str] = []
        self.aborted = 0

    async def get_blob_properties(self) -> Any:
        if self.existing is not None:
            found, self.existing = self.existing, None
            return found
        if not self.later:
            raise AssertionError("read more often than scripted")
        return self.later.pop(0) if len(self.later) > 1 else self.later[0]

    async def start_copy_from_url(self, url: str, metadata: dict[str, str]) -> None:
        assert metadata == METADATA
        self.started.append(url)

    async def abort_copy(self, copy: Any) -> None:
        self.aborted += 1


class Missing(Destination):
    def __init__(self, *later: Any) -> None:
        super().__init__(None, *later)
        self.first = True

    async def get_blob_properties(self) -> Any:
        if self.first:
            self.first = False
            raise ResourceNotFoundError("BlobNotFound")
        return await super().get_blob_properties()


async def _copy(destination: Any, timeout: float = 60) -> Any:
    return await copy_blob(
        SOURCE,
        destination,
        METADATA,
        size=SIZE,
        poll_seconds=0.001,
        timeout_seconds=timeout,
    )


async def test_a_finished_copy_of_the_same_source_is_reused() -> None:
    destination = Destination(props("success"))

    result = await _copy(destination)

    assert result.skipped
    assert destination.started == []
    assert "sig=" not in result.destination


async def test_a_finished_copy_with_another_md5_is_redone() -> None:
    stale = props("success")
    stale.metadata["imagerelay_md5"] = "b3RoZXI="
    destination = Destination(stale, props("success"))

    result = await _copy(destination)

    assert not result.skipped
    assert destination.started == [SOURCE]


async def test_a_new_copy_is_polled_until_azure_says_success() -> None:
    destination = Missing(props("pending"), props("pending"), props("success"))

    result = await _copy(destination)

    assert not result.skipped
    assert destination.started == [SOURCE]


async def test_a_pending_copy_of_the_same_source_is_resumed_not_restarted() -> None:
    destination = Destination(props("pending"), props("success"))

    result = await _copy(destination)

    assert destination.started == []
    assert not result.skipped


async def test_a_pending_copy_of_another_source_is_aborted_and_restarted() -> None:
    destination = Destination(props("pending", etag="0xOLD"), props("success"))

    await _copy(destination)

    assert destination.aborted == 1
    assert destination.started == [SOURCE]


async def test_a_failed_copy_reports_azures_reason() -> None:
    destination = Missing(props("failed"))

    with pytest.raises(CopyFailed, match="ended failed: 500 InternalError"):
        await _copy(destination)


async def test_a_copy_past_its_timeout_is_aborted() -> None:
    destination = Missing(props("pending"))

    with pytest.raises(CopyFailed, match="IMAGERELAY_COPY_TIMEOUT_MINUTES"):
        await _copy(destination, timeout=0.01)

    assert destination.aborted == 1


async def test_success_with_the_wrong_size_is_not_success() -> None:
    destination = Missing(props("success", size=SIZE - 512))

    with pytest.raises(CopyFailed, match="expected"):
        await _copy(destination)


async def test_a_missing_destination_container_fails_at_once(
    stack: StackConfig,
) -> None:
    tier0, other = stack.accounts[0], stack.accounts[1]
    async with (
        _service(stack, tier0) as source_service,
        _service(stack, other) as service,
    ):
        source = source_service.get_blob_client("golden", "copy-test/source.vhd")
        await source.upload_blob(b"x" * 512, blob_type="PageBlob", overwrite=True)
        source_url = await read_sas_url(source, timedelta(minutes=5))
        destination = service.get_blob_client("nosuchcontainer", "x.vhd")

        with pytest.raises(CopyRefused, match="nosuchcontainer does not exist") as err:
            await copy_blob(
                source_url,
                destination,
                METADATA,
                size=512,
                poll_seconds=0.01,
                timeout_seconds=10,
            )

    assert isinstance(err.value, PermanentError)


def _service(stack: StackConfig, account: Any) -> BlobServiceClient:
    return BlobServiceClient(
        stack.blob_endpoint.format(account=account.name),
        credential={"account_name": account.name, "account_key": account.key},
    )


class SlowFirstSource(Destination):
    """A destination whose copies from the first tier-1 source never finish."""

    def __init__(self) -> None:
        super().__init__(None)
        self.state: str | None = None

    async def get_blob_properties(self) -> Any:
        if self.state is None:
            raise ResourceNotFoundError("BlobNotFound")
        return props(self.state)

    async def start_copy_from_url(self, url: str, metadata: dict[str, str]) -> None:
        assert metadata["imagerelay_source"] == url.split("?")[0]
        self.started.append(url)
        self.state = "pending" if "tier1-00" in url else "success"

    async def abort_copy(self, copy: Any) -> None:
        self.aborted += 1
        self.state = "aborted"


async def test_a_timed_out_copy_is_redone_from_the_next_tier1_source() -> None:
    destination = SlowFirstSource()
    made: list[str] = []

    async def sas_url(blob: str) -> str:
        made.append(blob)
        return f"https://src.blob.core.windows.net/golden/{blob}?sv=1&sig=S"

    result = await copy_blob_from_any(
        ["tier1-00.vhd", "tier1-01.vhd"],
        sas_url,
        destination,
        lambda url: copy_metadata("2026.12", url, '"0x8DABC"', SIZE, "bWQ1"),
        size=SIZE,
        poll_seconds=0.001,
        timeout_seconds=0.05,
    )

    assert made == ["tier1-00.vhd", "tier1-01.vhd"]
    assert destination.aborted == 1
    assert [url.split("?")[0].rsplit("/", 1)[1] for url in destination.started] == [
        "tier1-00.vhd",
        "tier1-01.vhd",
    ]
    assert not result.skipped


async def test_when_every_source_times_out_the_last_timeout_is_raised() -> None:
    destination = SlowFirstSource()

    async def sas_url(blob: str) -> str:
        return f"https://src.blob.core.windows.net/golden/{blob}?sv=1&sig=S"

    with pytest.raises(CopyTimedOut):
        await copy_blob_from_any(
            ["tier1-00.vhd"],
            sas_url,
            destination,
            lambda url: copy_metadata("2026.12", url, '"0x8DABC"', SIZE, "bWQ1"),
            size=SIZE,
            poll_seconds=0.001,
            timeout_seconds=0.02,
        )
    assert destination.aborted == 1
