"""Tier-1 seeding by doubling rounds."""

from __future__ import annotations

import pytest

from imagerelay.tier1 import seed_source, seeding_rounds


@pytest.mark.parametrize(
    ("copies", "rounds"),
    [
        (0, []),
        (1, [[0]]),
        (2, [[0], [1]]),
        (3, [[0], [1], [2]]),
        (4, [[0], [1], [2, 3]]),
        (6, [[0], [1], [2, 3], [4, 5]]),
        (8, [[0], [1], [2, 3], [4, 5, 6, 7]]),
    ],
)
def test_rounds_double(copies: int, rounds: list[list[int]]) -> None:
    assert seeding_rounds(copies) == rounds


@pytest.mark.parametrize("copies", [1, 2, 5, 16, 64])
def test_each_copy_reads_from_one_made_in_an_earlier_round(copies: int) -> None:
    made: set[int] = set()
    for round_ in seeding_rounds(copies):
        sources = [seed_source(index) for index in round_]
        assert all(s is None or s in made for s in sources)
        assert len(sources) == len(set(sources)), "a source serves twice in a round"
        made |= set(round_)
    assert made == set(range(copies))
    assert seed_source(0) is None
