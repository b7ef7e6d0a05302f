"""Tier-1 seeding by doubling: each round copies from every copy made before it.

Round 0 copies the upload once; round r then makes up to 2**(r-1) more copies, each
from an earlier copy, so no blob serves more than one copy per round and N copies
take about log2(N) + 1 rounds instead of N reads of the upload.
"""

from __future__ import annotations


def seeding_rounds(copies: int) -> list[list[int]]:
    """Copy indexes grouped by round: [[0], [1], [2, 3], [4, 5, 6, 7], ...]."""
    rounds = [[0]] if copies > 0 else []
    made = 1
    while made < copies:
        rounds.append(list(range(made, min(2 * made, copies))))
        made *= 2
    return rounds


def seed_source(index: int) -> int | None:
    """The earlier copy the index-th copy is made from; None means the upload."""
    if index == 0:
        return None
    return index - (1 << (index.bit_length() - 1))
