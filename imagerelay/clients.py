"""The one place Azure clients are made, so tests point them at the local stack."""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, cast

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from azure.mgmt.storage.aio import StorageManagementClient
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

from imagerelay.settings import Settings


def arm_credential() -> DefaultAzureCredential:
    """Entra ID credential for Resource Manager (managed identity, CLI, env...)."""
    return DefaultAzureCredential()


def _arm_options(
    settings: Settings, transport: AioHttpTransport | None = None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "polling_interval": settings.arm_polling_interval,
    }
    if transport is not None:
        options["transport"] = transport
    elif settings.arm_ca_bundle is not None:
        options["connection_verify"] = str(settings.arm_ca_bundle)
    return options


def compute_client(
    settings: Settings,
    credential: DefaultAzureCredential,
    subscription_id: str,
    transport: AioHttpTransport | None = None,
) -> ComputeManagementClient:
    return ComputeManagementClient(
        credential, subscription_id, **_arm_options(settings, transport)
    )


def storage_management_client(
    settings: Settings,
    credential: DefaultAzureCredential,
    subscription_id: str,
    transport: AioHttpTransport | None = None,
) -> StorageManagementClient:
    return StorageManagementClient(
        credential, subscription_id, **_arm_options(settings, transport)
    )


def resource_client(
    settings: Settings, credential: DefaultAzureCredential, subscription_id: str
) -> ResourceManagementClient:
    return ResourceManagementClient(
        credential, subscription_id, **_arm_options(settings)
    )


class RetryAfterRetry(ExponentialRetry):
    """The storage SDK's exponential backoff, except that a Retry-After sent wins.

    The storage SDK ignores Retry-After; ARM clients (azure-core) already honour it.
    """

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        history = settings.get("history") or []
        response = history[-1].http_response if history else None
        header = response.headers.get("Retry-After") if response is not None else None
        seconds = _retry_after_seconds(header)
        if seconds is not None:
            return seconds
        return float(super().get_backoff_time(settings))


def _retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or HTTP date), if valid."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def storage_retry(settings: Settings) -> RetryAfterRetry:
    """Retry policy of every blob client imagerelay makes."""
    return RetryAfterRetry(initial_backoff=settings.storage_retry_backoff_seconds)


def blob_service(
    settings: Settings, account: str, credential: DefaultAzureCredential
) -> BlobServiceClient:
    """An async blob client for a storage account: its key if configured, else Entra."""
    url = settings.blob_endpoint.format(account=account)
    key = settings.storage_keys.get(account)
    if key is not None:
        return BlobServiceClient(
            url,
            credential={"account_name": account, "account_key": key.get_secret_value()},
            retry_policy=storage_retry(settings),
        )
    return BlobServiceClient(
        url, credential=credential, retry_policy=storage_retry(settings)
    )


class SharedClients:
    """One credential and one client per subscription or account, for many targets.

    Each Azure client holds its own connection pool and each credential its own token
    cache: made per target, a release of thousands of targets would open thousands of
    TLS connections and fetch thousands of tokens. Clients are bound to the event loop
    that made them, so only code on that loop may use them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.credential = arm_credential()
        self._clients: dict[tuple[str, str], Any] = {}
        self._arm_session: aiohttp.ClientSession | None = None

    def _arm_transport(self) -> AioHttpTransport | None:
        """One TLS context and connection pool for the ARM clients, given a CA bundle.

        With connection_verify naming a CA file, azure-core builds a new SSL context
        for every request, and aiohttp then opens a new TLS connection for each one.
        Azure's public endpoints need no CA bundle and pool connections as it is.
        """
        if self.settings.arm_ca_bundle is None:
            return None
        if self._arm_session is None:
            context = ssl.create_default_context(cafile=self.settings.arm_ca_bundle)
            self._arm_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # azure-core decodes, as with its own session
                trust_env=True,
            )
        return AioHttpTransport(session=self._arm_session, session_owner=False)

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        key = ("compute", subscription_id)
        if key not in self._clients:
            self._clients[key] = compute_client(
                self.settings, self.credential, subscription_id, self._arm_transport()
            )
        return cast(ComputeManagementClient, self._clients[key])

    def storage(self, subscription_id: str) -> StorageManagementClient:
        key = ("storage", subscription_id)
        if key not in self._clients:
            self._clients[key] = storage_management_client(
                self.settings, self.credential, subscription_id, self._arm_transport()
            )
        return cast(StorageManagementClient, self._clients[key])

    def blob(self, account: str) -> BlobServiceClient:
        key = ("blob", account)
        if key not in self._clients:
            self._clients[key] = blob_service(self.settings, account, self.credential)
        return cast(BlobServiceClient, self._clients[key])

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        if self._arm_session is not None:
            await self._arm_session.close()
            self._arm_session = None
        await self.credential.close()


_shared: ContextVar[SharedClients | None] = ContextVar(
    "imagerelay_clients", default=None
)


@asynccontextmanager
async def shared_clients(settings: Settings) -> AsyncIterator[SharedClients]:
    """Share clients with every target run in this context, on this event loop."""
    shared = SharedClients(settings)
    token = _shared.set(shared)
    try:
        yield shared
    finally:
        _shared.reset(token)
        await shared.close()


@asynccontextmanager
async def azure_clients(settings: Settings) -> AsyncIterator[SharedClients]:
    """The clients shared by the running release, or private ones closed on exit."""
    shared = _shared.get()
    if shared is not None and shared.loop is asyncio.get_running_loop():
        yield shared
        return
    private = SharedClients(settings)
    try:
        yield private
    finally:
        await private.close()
