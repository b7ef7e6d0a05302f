"""The tier-0 block's blob clients retry like imagerelay's other blob clients."""

from __future__ import annotations

import pytest
from prefect_azure.credentials import AzureBlobStorageCredentials

from blocks.tier0 import Tier0Storage
from imagerelay.clients import RetryAfterRetry
from imagerelay.settings import get_settings

CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:1/acct;"
)


def test_tier0_clients_honour_retry_after_and_the_backoff_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGERELAY_STORAGE_RETRY_BACKOFF_SECONDS", "2")
    get_settings.cache_clear()
    try:
        block = Tier0Storage(
            credentials=AzureBlobStorageCredentials(connection_string=CONNECTION)
        )
        container = block.container_client("golden")
        blob = block.blob_client("golden", "uploads/2026.12/golden.vhd")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert container.url == "http://127.0.0.1:1/acct/golden"
    assert blob.url == "http://127.0.0.1:1/acct/golden/uploads/2026.12/golden.vhd"
    for client in (container, blob):
        policy = client._config.retry_policy  # the SDK's default ignores Retry-After
        assert isinstance(policy, RetryAfterRetry)
        assert policy.initial_backoff == 2
