"""Pending copies as Azure shows them, over copies Azurite has already finished."""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from xml.etree import ElementTree

from devstack.faults.counters import StorageCounters
from devstack.faults.profile import FaultProfile

MIB = 1024 * 1024
FAILED_DESCRIPTION = '500 InternalError "Copy failed when reading the source."'
ABORTED_DESCRIPTION = "Copy was aborted by the client."

BlobKey = tuple[str, str, str]


@dataclass
class CopyRecord:
    """One copy onto a destination blob, with the times the proxy makes it take."""

    copy_id: str
    source: str
    source_account: str
    destination_account: str
    size: int
    started_at: float
    ends_at: float
    fails: bool
    aborted_at: float | None = None
    truncated: bool = False

    def status(self, now: float) -> str:
        if self.aborted_at is not None:
            return "aborted"
        if now < self.ends_at:
            return "pending"
        return "failed" if self.fails else "success"

    def progress(self, now: float) -> str:
        end = self.aborted_at if self.aborted_at is not None else now
        span = self.ends_at - self.started_at
        share = (
            0.0
            if math.isinf(span)
            else 1.0
            if span <= 0
            else min(1.0, max(0.0, (end - self.started_at) / span))
        )
        if self.status(now) == "failed":
            share = min(share, 0.5)
        return f"{int(self.size * share)}/{self.size}"

    def needs_truncation(self, now: float) -> bool:
        """Failed and aborted copies leave a zero-length destination, as in Azure."""
        return not self.truncated and self.status(now) in ("failed", "aborted")

    def headers(self, now: float) -> dict[str, str]:
        """The x-ms-copy-* headers of Get Blob Properties for the destination."""
        status = self.status(now)
        headers = {
            "x-ms-copy-id": self.copy_id,
            "x-ms-copy-source": self.source,
            "x-ms-copy-status": status,
            "x-ms-copy-progress": self.progress(now),
        }
        if status != "pending":
            finished = self.aborted_at or self.ends_at
            headers["x-ms-copy-completion-time"] = email.utils.formatdate(
                finished, usegmt=True
            )
        if status == "failed":
            headers["x-ms-copy-status-description"] = FAILED_DESCRIPTION
        if status == "aborted":
            headers["x-ms-copy-status-description"] = ABORTED_DESCRIPTION
        return headers


@dataclass
class CopyBook:
    """Every copy the proxy saw, and the counters tests read."""

    profile: FaultProfile = field(default_factory=FaultProfile)
    records: dict[BlobKey, CopyRecord] = field(default_factory=dict)
    counters: StorageCounters = field(default_factory=StorageCounters)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)
    running: list[CopyRecord] = field(default_factory=list)

    def set_profile(self, profile: FaultProfile) -> None:
        with self.lock:
            self.profile = profile
            self.rng = random.Random(profile.seed)

    def pending(self, key: BlobKey, now: float) -> CopyRecord | None:
        record = self.records.get(key)
        if record is not None and record.status(now) == "pending":
            return record
        return None

    def start(
        self,
        key: BlobKey,
        copy_id: str,
        source: str,
        source_path: str,
        size: int,
        now: float | None = None,
    ) -> CopyRecord:
        """Record a copy Azurite accepted, and count the copies running with it."""
        now = time.time() if now is None else now
        with self.lock:
            rate = self.profile.copy_mib_per_s
            seconds = size / (rate * MIB) if rate else 0.0
            if self.profile.copy_stalls(source_path, "/".join(key)):
                seconds = math.inf
            record = CopyRecord(
                copy_id=copy_id,
                source=source,
                source_account=source_path.split("/", 1)[0],
                destination_account=key[0],
                size=size,
                started_at=now,
                ends_at=now + seconds,
                fails=self.rng.random() < self.profile.copy_fail_share,
            )
            self.records[key] = record
            counters = self.counters
            counters.copies_started += 1
            by_account = counters.copies_started_per_account
            by_account[key[0]] = by_account.get(key[0], 0) + 1
            if record.fails:
                counters.copies_failed += 1
            self._count_running(now, record)
            return record

    def _count_running(self, now: float, new: CopyRecord) -> None:
        # Only copies pending at the last start can still be: 6,000 targets stay cheap.
        running = [
            r
            for r in self.running
            if r is not new and r.status(now) == "pending" and r.started_at <= now
        ]
        running.append(new)
        self.running = running
        accounts: Counter[str] = Counter()
        for record in running:
            accounts.update({record.source_account, record.destination_account})
        counters = self.counters
        counters.max_copies = max(counters.max_copies, len(running))
        for account, count in accounts.items():
            peak = counters.max_copies_per_account.get(account, 0)
            counters.max_copies_per_account[account] = max(peak, count)

    def abort(self, key: BlobKey, copy_id: str, now: float | None = None) -> str:
        """Abort a pending copy: "" when done, else Azure's error code."""
        now = time.time() if now is None else now
        with self.lock:
            record = self.pending(key, now)
            if record is None:
                return "NoPendingCopyOperation"
            if record.copy_id != copy_id:
                return "CopyIdMismatch"
            record.aborted_at = now
            self.counters.copies_aborted += 1
            return ""

    def forget(self, key: BlobKey) -> None:
        """The destination was rewritten or deleted: its copy is history."""
        with self.lock:
            self.records.pop(key, None)

    def count_fault(self, kind: str) -> None:
        with self.lock:
            faults = self.counters.faults
            faults[kind] = faults.get(kind, 0) + 1

    def roll_fault(self) -> str | None:
        """Which transient fault, if any, this request meets."""
        with self.lock:
            profile = self.profile
            roll = self.rng.random()
        for kind, share in (
            ("throttle", profile.throttle_share),
            ("unavailable", profile.unavailable_share),
            ("error", profile.error_share),
            ("drop", profile.drop_share),
        ):
            if roll < share:
                return kind
            roll -= share
        return None

    def reset_counters(self) -> None:
        with self.lock:
            self.counters = StorageCounters()


LIST_FIELDS = {
    "x-ms-copy-id": "CopyId",
    "x-ms-copy-source": "CopySource",
    "x-ms-copy-status": "CopyStatus",
    "x-ms-copy-progress": "CopyProgress",
    "x-ms-copy-completion-time": "CopyCompletionTime",
    "x-ms-copy-status-description": "CopyStatusDescription",
}


def list_with_copies(
    body: bytes, book: CopyBook, container: tuple[str, str], now: float
) -> bytes:
    """A List Blobs answer with the copy properties the proxy knows better."""
    root = ElementTree.fromstring(body)
    changed = False
    for blob in root.iter("Blob"):
        name = blob.findtext("Name")
        properties = blob.find("Properties")
        record = book.records.get((*container, name or ""))
        if record is None or properties is None:
            continue
        headers = record.headers(now)
        for header, tag in LIST_FIELDS.items():
            element = properties.find(tag)
            if header not in headers:
                if element is not None:
                    properties.remove(element)
                continue
            if element is None:
                element = ElementTree.SubElement(properties, tag)
            element.text = headers[header]
        changed = True
    if not changed:
        return body
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
