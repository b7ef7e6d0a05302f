"""Which images retention deletes, and which releases cleanup may touch."""

from __future__ import annotations

import pytest

from imagerelay.cleanup import (
    CleanupRefused,
    DeletionKind,
    ReleaseNotComplete,
    check_complete,
    check_filters,
    complete_releases,
)
from imagerelay.ledger import LedgerEntry
from imagerelay.models import TargetState
from imagerelay.retention import expired, release_order, released_image


def _image(name: str, release: str | None, location: str = "westeurope"):
    tags = {"imagerelay-release": release} if release else {}
    return released_image("sub", "rg", name, location, tags)


def test_only_images_named_and_tagged_by_imagerelay_count() -> None:
    mine = _image("golden-2026.12-westeurope", "2026.12")

    assert mine is not None
    assert (mine.image_name, mine.release) == ("golden", "2026.12")
    assert _image("golden-2026.12-westeurope", None) is None, "no release tag"
    assert _image("golden-2026.12-westeurope", "2026.11") is None, "tag disagrees"
    assert _image("golden-2026.12-westeurope", "2026.12", "northeurope") is None
    assert _image("handmade", "2026.12") is None


def test_release_ids_sort_as_versions() -> None:
    releases = ["2026.10", "2026.9", "2026.10-fix", "2025.12"]

    assert sorted(releases, key=release_order) == [
        "2025.12",
        "2026.9",
        "2026.10",
        "2026.10-fix",
    ]


def test_keep_the_newest_per_group_region_and_image_name() -> None:
    images = [
        _image(f"{name}-{release}-{region}", release, region)
        for name in ("linux", "windows")
        for release in ("2026.9", "2026.10", "2026.11")
        for region in ("westeurope", "northeurope")
    ]

    gone = expired([i for i in images if i is not None], keep=2)

    assert sorted(d.name for d in gone) == [
        "linux-2026.9-northeurope",
        "linux-2026.9-westeurope",
        "windows-2026.9-northeurope",
        "windows-2026.9-westeurope",
    ]
    assert {d.kind for d in gone} == {DeletionKind.IMAGE}
    assert gone[0].where == f"rg/{gone[0].name}"
    with pytest.raises(ValueError, match="at least 1"):
        expired([], keep=0)


def _entry(release: str, image: str, state: TargetState) -> LedgerEntry:
    return LedgerEntry(
        release=release,
        image_name=image,
        target_key=f"{release}-{state}",
        subscription_id="s",
        region="westeurope",
        storage_account="acc",
        image_resource_group="rg",
        state=state,
    )


def test_a_release_is_complete_when_every_target_is_done() -> None:
    entries = [
        _entry("2026.11", "linux", TargetState.DONE),
        _entry("2026.12", "linux", TargetState.DONE),
        _entry("2026.12", "linux", TargetState.FAILED),
        _entry("2026.12", "windows", TargetState.DONE),
    ]

    assert complete_releases(entries) == {("2026.11", "linux"), ("2026.12", "windows")}
    check_complete("2026.11", entries[:1])
    with pytest.raises(ReleaseNotComplete, match="1 targets are not done"):
        check_complete("2026.12", entries[1:3])
    with pytest.raises(ReleaseNotComplete, match=r"holds no release 2027\.01"):
        check_complete("2027.01", [])


def test_an_empty_release_or_image_name_is_refused() -> None:
    check_filters(None, None)
    check_filters("2026.12", "golden")
    with pytest.raises(CleanupRefused, match="--release is empty"):
        check_filters("", None)
    with pytest.raises(CleanupRefused, match="--image-name is empty"):
        check_filters(None, "  ")
