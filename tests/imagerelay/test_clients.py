"""Clients shared by a release's targets, and private ones outside a release."""

from __future__ import annotations

import asyncio

from imagerelay import clients
from imagerelay.settings import Settings


def _settings() -> Settings:
    return Settings(
        blob_endpoint="http://127.0.0.1:1/{account}",
        storage_keys={"acct1": "a2V5"},
        arm_endpoint="https://127.0.0.1:1",
    )


async def test_targets_in_a_release_share_one_credential_and_client() -> None:
    settings = _settings()
    async with clients.shared_clients(settings) as shared:
        async with clients.azure_clients(settings) as first:
            compute = first.compute("sub")
        async with clients.azure_clients(settings) as second:
            assert second is shared and first is shared
            assert second.compute("sub") is compute
            assert second.compute("other") is not compute
            assert second.blob("acct1") is second.blob("acct1")


async def test_without_a_release_each_use_gets_private_clients() -> None:
    settings = _settings()
    async with clients.azure_clients(settings) as first:
        credential = first.credential
    async with clients.azure_clients(settings) as second:
        assert second.credential is not credential


async def test_another_event_loop_never_gets_the_release_clients() -> None:
    settings = _settings()
    async with clients.shared_clients(settings) as shared:

        async def elsewhere() -> bool:
            async with clients.azure_clients(settings) as azure:
                return azure is shared

        same = await elsewhere()
        other = await asyncio.to_thread(asyncio.run, elsewhere())
    assert same and not other
