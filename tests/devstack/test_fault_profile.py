"""Fault profiles from YAML, and the copy book's clock and counters (no stack)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devstack.cli import app
from devstack.faults.copies import MIB, CopyBook
from devstack.faults.profile import FaultProfile, load_profile


def test_a_profile_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("copy_mib_per_s: 64\nthrottle_share: 0.1\nseed: 3\n")

    profile = load_profile(path)

    assert profile.copy_mib_per_s == 64
    assert profile.throttle_share == 0.1
    assert profile.image_fail_share == 0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("copy_mib_per_second: 64\n", "copy_mib_per_second"),
        ("throttle_share: 2\n", "throttle_share"),
        ("copy_mib_per_s: [\n", "not valid YAML"),
    ],
)
def test_a_bad_profile_names_the_problem(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(text)

    with pytest.raises(ValueError, match=named):
        load_profile(path)


def test_image_failures_are_stable_per_image_and_near_the_share() -> None:
    profile = FaultProfile(image_fail_share=0.3, seed=5)
    ids = [f"/subscriptions/s/resourceGroups/g/images/i{n}" for n in range(2000)]

    first = [profile.image_fails(i) for i in ids]

    assert first == [profile.image_fails(i) for i in ids]
    assert 0.25 < sum(first) / len(ids) < 0.35


def test_copies_are_pending_for_size_over_rate_and_counted_while_they_overlap() -> None:
    book = CopyBook()
    book.set_profile(FaultProfile(copy_mib_per_s=2))
    a = book.start(("dst1", "c", "b"), "id-a", "u", "src/c/x", 4 * MIB, now=100.0)
    book.start(("dst2", "c", "b"), "id-b", "u", "src/c/x", 4 * MIB, now=101.0)
    book.start(("dst1", "c", "d"), "id-c", "u", "src/c/x", 4 * MIB, now=103.0)

    assert a.status(101.0) == "pending" and a.progress(101.0) == f"{2 * MIB}/{4 * MIB}"
    assert a.status(102.0) == "success"
    counters = book.counters
    assert counters.max_copies == 2
    assert counters.max_copies_per_account == {"src": 2, "dst1": 1, "dst2": 1}
    assert counters.copies_started_per_account == {"dst1": 2, "dst2": 1}


def test_only_a_pending_copy_with_its_id_can_be_aborted() -> None:
    book = CopyBook()
    book.set_profile(FaultProfile(copy_mib_per_s=1))
    key = ("dst", "c", "b")
    record = book.start(key, "id-a", "u", "src/c/x", MIB, now=0.0)

    assert book.abort(key, "other", now=0.5) == "CopyIdMismatch"
    assert book.abort(key, "id-a", now=0.5) == ""
    assert record.status(0.6) == "aborted" and record.needs_truncation(0.6)
    assert book.abort(key, "id-a", now=0.7) == "NoPendingCopyOperation"


def test_stack_up_refuses_a_bad_fault_profile_before_starting_anything(
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("drop_share: 1.5\n")
    state_dir = tmp_path / "state"

    result = CliRunner().invoke(
        app, ["up", "--faults", str(faults), "--state-dir", str(state_dir)]
    )

    assert result.exit_code == 1
    assert "drop_share" in result.output and "faults.yaml" in result.output
    assert not state_dir.exists()
