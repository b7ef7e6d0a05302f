"""Clients shared by a release's targets, and private ones outside a release."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from devstack.config import StackConfig
from imagerelay import clients
from imagerelay.images import check_account_location
from imagerelay.inventory import load_inventory
from imagerelay.settings import Settings, get_settings
from tests.conftest import TEST_INVENTORY


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


def _established_to(port: int) -> int:
    """This process's established TCP connections to a local port (/proc)."""
    fds = Path("/proc/self/fd")
    ours = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                ours.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in ours:
                count += 1
    return count


async def test_arm_requests_of_a_release_reuse_one_tls_connection(
    stack: StackConfig,
) -> None:
    settings = get_settings()
    target = load_inventory(TEST_INVENTORY).enabled_targets[0]
    port = urlsplit(settings.arm_endpoint).port
    assert port is not None and settings.arm_ca_bundle is not None
    async with clients.shared_clients(settings) as shared:
        for _ in range(5):
            await check_account_location(shared.storage(target.subscription_id), target)
        assert _established_to(port) == 1
    assert _established_to(port) == 0
