"""Names derive from the release and inventory, and respect Azure and Prefect rules."""

from __future__ import annotations

import re

import pytest

from imagerelay.naming import (
    NamingError,
    artifact_key,
    check_release,
    managed_image_name,
    tier1_blob_name,
    tier2_blob_name,
    upload_blob_name,
)


@pytest.mark.parametrize("release", ["2026.12", "2026-12", "r1", "A_b.c-d"])
def test_good_release_ids(release: str) -> None:
    assert check_release(release) == release


@pytest.mark.parametrize("release", ["", "2026/12", "a b", ".hidden", "x" * 41])
def test_bad_release_ids_say_how_to_quote(release: str) -> None:
    with pytest.raises(NamingError, match="quote it"):
        check_release(release)


def test_image_names_carry_release_and_region() -> None:
    assert managed_image_name("2026.12", "golden", "westeurope") == (
        "golden-2026.12-westeurope"
    )


def test_image_name_too_long_is_refused() -> None:
    with pytest.raises(NamingError, match="1-80"):
        managed_image_name("2026.12", "g" * 70, "westeurope")


def test_artifact_keys_fit_prefect_pattern() -> None:
    key = artifact_key("2026.12", "Golden_Linux", "targets")

    assert re.fullmatch(r"[a-z0-9-]+", key)
    assert key == "release-2026-12-golden-linux-targets"


def test_blob_names_are_stable_and_distinct() -> None:
    names = {
        upload_blob_name("2026.12", "/tmp/golden.vhd"),
        tier1_blob_name("2026.12", "golden", 0),
        tier1_blob_name("2026.12", "golden", 1),
        tier2_blob_name("2026.12", "golden"),
    }

    assert len(names) == 4
    assert all(name.endswith(".vhd") for name in names)
    assert upload_blob_name("2026.12", "disk.raw") == "uploads/2026.12/disk.raw.vhd"


@pytest.mark.parametrize(
    "filename", ["golden?.vhd", "golden#1.vhd", "my golden.vhd", ".hidden.vhd", "é.vhd"]
)
def test_file_names_a_release_could_not_read_are_refused(filename: str) -> None:
    with pytest.raises(NamingError, match="rename the file to letters, digits"):
        upload_blob_name("2026.12", f"/tmp/{filename}")
