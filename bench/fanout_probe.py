"""Count a fan-out run's Azure calls and the concurrency it reaches, in-process.

Both sides of the fan-out bench (imagerelay and the asyncio floor) install the same
probe, so their figures are counted the same way: every HTTP request an Azure SDK
aio client sends (blob, table, ARM, token endpoint), copies in flight (from
start_copy_from_url until a read of the destination shows the copy ended) per storage
account and in total, and image operations in flight (begin_create_or_update until its
poller's result) per subscription.

Limitation: this counts at the client, not at the stack; requests the SDK retries
are counted once per attempt, and a copy counts as in flight until the client next
looks at it (with instant copies, about one round trip).
"""

from __future__ import annotations

import json
import resource
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class Gauge:
    """A count that goes up and down and remembers its highest value, per key."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def up(self, key: str) -> None:
        self.now[key] += 1
        self.peak[key] = max(self.peak[key], self.now[key])

    def down(self, key: str) -> None:
        self.now[key] -= 1


class Probe:
    """Azure calls by service, and peak concurrency against each kind of limit."""

    def __init__(self, ports: dict[int, str]) -> None:
        self.ports = ports
        self.calls: Counter[str] = Counter()
        self.copies = Gauge()  # "all" and one key per storage account
        self.images = Gauge()  # one key per subscription
        self._copying: dict[str, list[str]] = {}

    def install(self) -> None:
        """Wrap the aio transport and the copy and image calls of the SDKs."""
        from azure.core.pipeline.transport import AioHttpTransport
        from azure.mgmt.compute.aio.operations import ImagesOperations
        from azure.storage.blob.aio import BlobClient

        probe = self
        send = AioHttpTransport.send

        async def counted_send(self: Any, request: Any, **config: Any) -> Any:
            probe.calls[probe.ports.get(urlsplit(request.url).port or 0, "other")] += 1
            return await send(self, request, **config)

        AioHttpTransport.send = counted_send  # type: ignore[method-assign]

        start_copy = BlobClient.start_copy_from_url
        properties = BlobClient.get_blob_properties
        abort = BlobClient.abort_copy

        async def counted_start(self: Any, source_url: str, **kwargs: Any) -> Any:
            probe._copy_started(self.url, source_url, self.account_name)
            try:
                return await start_copy(self, source_url, **kwargs)
            except BaseException:
                probe._copy_ended(self.url)
                raise

        async def counted_properties(self: Any, **kwargs: Any) -> Any:
            props = await properties(self, **kwargs)
            if props.copy.status in ("success", "failed", "aborted"):
                probe._copy_ended(self.url)
            return props

        async def counted_abort(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await abort(self, *args, **kwargs)
            finally:
                probe._copy_ended(self.url)

        BlobClient.start_copy_from_url = counted_start  # type: ignore[method-assign]
        BlobClient.get_blob_properties = counted_properties  # type: ignore[method-assign]
        BlobClient.abort_copy = counted_abort  # type: ignore[method-assign]

        begin = ImagesOperations.begin_create_or_update

        async def counted_begin(self: Any, *args: Any, **kwargs: Any) -> Any:
            subscription = self._config.subscription_id
            probe.images.up(subscription)
            try:
                poller = await begin(self, *args, **kwargs)
            except BaseException:
                probe.images.down(subscription)
                raise
            poller.result = _ended(
                poller.result, lambda: probe.images.down(subscription)
            )
            return poller

        ImagesOperations.begin_create_or_update = counted_begin  # type: ignore[method-assign]

    def _copy_started(self, destination: str, source_url: str, account: str) -> None:
        key = destination.split("?")[0]
        if key in self._copying:
            return
        source_account = urlsplit(source_url).path.split("/")[1]
        accounts = list(dict.fromkeys([source_account, account]))
        self._copying[key] = accounts
        self.copies.up("all")
        for name in accounts:
            self.copies.up(name)

    def _copy_ended(self, destination: str) -> None:
        accounts = self._copying.pop(destination.split("?")[0], None)
        if accounts is None:
            return
        self.copies.down("all")
        for name in accounts:
            self.copies.down(name)

    def result(self, **extra: Any) -> dict[str, Any]:
        """What the run measured, ready for JSON."""
        per_account = {k: v for k, v in self.copies.peak.items() if k != "all"}
        return {
            "calls": dict(self.calls),
            "peak_copies": self.copies.peak["all"],
            "peak_copies_per_account": max(per_account.values(), default=0),
            "peak_copies_account": max(per_account, key=per_account.get, default=""),
            "peak_images_per_subscription": max(self.images.peak.values(), default=0),
            "peak_rss_mib": peak_rss_mib(),
            "cpu_seconds": cpu_seconds(),
            **extra,
        }

    def write(self, path: Path, **extra: Any) -> None:
        path.write_text(json.dumps(self.result(**extra), indent=2))


def _ended(result: Callable[..., Any], done: Callable[[], None]) -> Callable[..., Any]:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return await result(*args, **kwargs)
        finally:
            done()

    return wrapped


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stack_ports(config: Any) -> dict[int, str]:
    """Which stack service listens on which port, to sort calls by service."""
    return {
        config.blob_port: "blob",
        config.table_port: "table",
        config.queue_port: "queue",
        config.arm_port: "arm",
        config.identity_port: "identity",
    }
