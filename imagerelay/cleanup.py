"""What a completed release leaves behind: tier-1 copies and tier-2 VHDs."""

from __future__ import annotations

import re
from enum import StrEnum

from azure.storage.blob.aio import ContainerClient
from pydantic import BaseModel, ConfigDict

from imagerelay.errors import PermanentError
from imagerelay.inventory import Target
from imagerelay.ledger import LedgerEntry
from imagerelay.models import TargetState

TIER1_BLOB = re.compile(r"^tier1/(?P<release>[^/]+)/(?P<image>.+)-\d+\.vhd$")
TIER2_BLOB = re.compile(r"^(?P<release>[^/]+)/(?P<image>[^/]+)\.vhd$")

ReleaseKey = tuple[str, str]


class DeletionKind(StrEnum):
    TIER1 = "tier-1 VHD"
    TIER2 = "tier-2 VHD"
    IMAGE = "image"


class Deletion(BaseModel):
    """One thing cleanup deletes (or, in a dry run, would delete)."""

    model_config = ConfigDict(frozen=True)

    kind: DeletionKind
    release: str
    image_name: str
    subscription_id: str
    scope: str
    container: str = ""
    name: str
    reason: str

    @property
    def where(self) -> str:
        """account/container/blob for a VHD, resource group/image for an image."""
        return "/".join(p for p in (self.scope, self.container, self.name) if p)


class CleanupRefused(PermanentError):
    """Cleanup was asked for something it must not do; the message names the fix."""


class ReleaseNotComplete(CleanupRefused):
    """Cleanup was asked for a release that has targets not done."""


def check_filters(release: str | None, image_name: str | None) -> None:
    """Refuse an empty release or image name: it would mean every one of them."""
    for option, value in (("--release", release), ("--image-name", image_name)):
        if value is not None and not value.strip():
            raise CleanupRefused(
                f"{option} is empty, which would select everything; give a value "
                f"(see `imagerelay status`) or leave {option} out"
            )


def complete_releases(entries: list[LedgerEntry]) -> set[ReleaseKey]:
    """(release, image name) pairs whose every ledger entry is done."""
    states: dict[ReleaseKey, set[TargetState]] = {}
    for entry in entries:
        states.setdefault((entry.release, entry.image_name), set()).add(entry.state)
    return {key for key, seen in states.items() if seen == {TargetState.DONE}}


def check_complete(release: str, entries: list[LedgerEntry]) -> None:
    """Refuse to clean up a release the ledger does not show as done everywhere."""
    if not entries:
        raise ReleaseNotComplete(
            f"the ledger holds no release {release}; check the id with "
            "`imagerelay status`"
        )
    left = [e for e in entries if e.state is not TargetState.DONE]
    if left:
        names = ", ".join(
            f"{e.image_name} {e.region}/{e.storage_account} ({e.state.value})"
            for e in left[:10]
        )
        raise ReleaseNotComplete(
            f"release {release} is not complete: {len(left)} targets are not done "
            f"({names}); re-run the release until it completes, then clean up"
        )


async def tier1_leftovers(
    container: ContainerClient, subscription_id: str, done: set[ReleaseKey]
) -> list[Deletion]:
    """Tier-1 copies in tier-0 that belong to a completed release."""
    found = []
    async for name in container.list_blob_names(name_starts_with="tier1/"):
        match = TIER1_BLOB.match(name)
        if match and (match["release"], match["image"]) in done:
            found.append(
                Deletion(
                    kind=DeletionKind.TIER1,
                    release=match["release"],
                    image_name=match["image"],
                    subscription_id=subscription_id,
                    scope=str(container.account_name),
                    container=container.container_name,
                    name=name,
                    reason="release complete",
                )
            )
    return found


async def tier2_leftovers(
    container: ContainerClient, target: Target, done: set[ReleaseKey]
) -> list[Deletion]:
    """VHDs in a target's container that a completed release copied there.

    Only blobs named like a release's VHD and stamped with that release count.
    """
    found = []
    async for blob in container.list_blobs(include=["metadata"]):
        match = TIER2_BLOB.match(blob.name)
        if not match or (blob.metadata or {}).get("imagerelay_release") != match[1]:
            continue
        if (match["release"], match["image"]) in done:
            found.append(
                Deletion(
                    kind=DeletionKind.TIER2,
                    release=match["release"],
                    image_name=match["image"],
                    subscription_id=target.subscription_id,
                    scope=target.storage_account,
                    container=target.container,
                    name=str(blob.name),
                    reason="release complete",
                )
            )
    return found
