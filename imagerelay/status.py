"""Where a release stands: counts per stage from the ledger and tier-0."""

from __future__ import annotations

import re
from datetime import datetime

from azure.storage.blob.aio import ContainerClient
from pydantic import BaseModel, ConfigDict

from imagerelay.ledger import LedgerEntry
from imagerelay.models import TargetState


class StageCounts(BaseModel):
    """One image name of one release, counted per stage."""

    model_config = ConfigDict(frozen=True)

    release: str
    image_name: str
    targets: int
    tier1_done: int
    tier1_total: int
    copies_done: int
    copies_pending: int
    copies_failed: int
    images_done: int
    images_failed: int
    updated: datetime | None = None

    @property
    def failed(self) -> int:
        return self.copies_failed + self.images_failed


class ReleaseRun(BaseModel):
    """One Prefect run of the release flow for this release."""

    model_config = ConfigDict(frozen=True)

    name: str
    state: str
    start: datetime | None
    url: str


def stage_counts(
    release: str,
    image_name: str,
    entries: list[LedgerEntry],
    tier1_done: int,
    tier1_total: int,
) -> StageCounts:
    """Count one image's targets per stage.

    A failed target whose ledger entry holds a destination blob got its copy and
    failed at the image; one without failed at the copy (or before it).
    """
    copied = {TargetState.IMAGING, TargetState.DONE}
    failed = [e for e in entries if e.state is TargetState.FAILED]
    image_failed = [e for e in failed if e.destination_blob]
    updates = [e.updated for e in entries if e.updated is not None]
    return StageCounts(
        release=release,
        image_name=image_name,
        targets=len(entries),
        tier1_done=tier1_done,
        tier1_total=tier1_total,
        copies_done=sum(1 for e in entries if e.state in copied) + len(image_failed),
        copies_pending=sum(
            1 for e in entries if e.state in (TargetState.PENDING, TargetState.COPYING)
        ),
        copies_failed=len(failed) - len(image_failed),
        images_done=sum(1 for e in entries if e.state is TargetState.DONE),
        images_failed=len(image_failed),
        updated=max(updates) if updates else None,
    )


def newest_release(entries: list[LedgerEntry]) -> str | None:
    """The release whose ledger entries changed last."""
    dated = [(e.updated, e.release) for e in entries if e.updated is not None]
    if not dated:
        return entries[-1].release if entries else None
    return max(dated)[1]


def by_image(entries: list[LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    """Ledger entries grouped by image name, in name order."""
    groups: dict[str, list[LedgerEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.image_name, e.target_key)):
        groups.setdefault(entry.image_name, []).append(entry)
    return groups


async def tier1_done(container: ContainerClient, release: str, image_name: str) -> int:
    """How many tier-1 copies of the release's VHD exist with a finished copy."""
    prefix = f"tier1/{release}/"
    pattern = re.compile(rf"^{re.escape(prefix + image_name)}-\d+\.vhd$")
    done = 0
    async for blob in container.list_blobs(name_starts_with=prefix):
        if not pattern.match(blob.name):
            continue
        copy_status = blob.copy.status if blob.copy is not None else None
        if copy_status in (None, "success"):
            done += 1
    return done
