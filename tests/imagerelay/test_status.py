"""Counting a release's targets per stage from ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime

from imagerelay.ledger import LedgerEntry
from imagerelay.models import TargetState
from imagerelay.status import by_image, newest_release, stage_counts


def _entry(
    target: str,
    state: TargetState,
    *,
    release: str = "2026.12",
    image: str = "golden",
    destination: str = "",
    day: int = 1,
) -> LedgerEntry:
    return LedgerEntry(
        release=release,
        image_name=image,
        target_key=target,
        subscription_id="s",
        region="westeurope",
        storage_account=target,
        image_resource_group="rg",
        state=state,
        destination_blob=destination,
        updated=datetime(2026, 12, day, tzinfo=UTC),
    )


def test_each_state_lands_in_its_stage() -> None:
    entries = [
        _entry("a", TargetState.DONE, destination="https://a/v"),
        _entry("b", TargetState.IMAGING, destination="https://b/v"),
        _entry("c", TargetState.COPYING),
        _entry("d", TargetState.PENDING),
        _entry("e", TargetState.FAILED),
        _entry("f", TargetState.FAILED, destination="https://f/v", day=3),
    ]

    counts = stage_counts("2026.12", "golden", entries, 3, 4)

    assert (counts.tier1_done, counts.tier1_total, counts.targets) == (3, 4, 6)
    assert (counts.copies_done, counts.copies_pending, counts.copies_failed) == (
        3,
        2,
        1,
    )
    assert (counts.images_done, counts.images_failed) == (1, 1)
    assert counts.failed == 2
    assert counts.updated == datetime(2026, 12, 3, tzinfo=UTC)


def test_newest_release_is_the_one_changed_last() -> None:
    entries = [
        _entry("a", TargetState.DONE, release="2026.12", day=1),
        _entry("a", TargetState.DONE, release="2026.09", day=5),
    ]

    assert newest_release(entries) == "2026.09"
    assert newest_release([]) is None


def test_entries_group_by_image_name() -> None:
    entries = [
        _entry("b", TargetState.DONE, image="win"),
        _entry("a", TargetState.DONE, image="linux"),
        _entry("a", TargetState.DONE, image="win"),
    ]

    groups = by_image(entries)

    assert list(groups) == ["linux", "win"]
    assert [e.target_key for e in groups["win"]] == ["a", "b"]
