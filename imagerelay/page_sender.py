"""Page writes on a thread pool: zero ranges skipped, a resumed blob's pages kept."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from azure.storage.blob import BlobClient

from imagerelay.resume import WrittenPages

SPARSE_GRANULE = 64 * 1024

_ZERO_GRANULE = bytes(SPARSE_GRANULE)


def nonzero_ranges(chunk: bytes) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of the runs of non-zero granules in a chunk."""
    start = None
    for offset in range(0, len(chunk), SPARSE_GRANULE):
        end = min(offset + SPARSE_GRANULE, len(chunk))
        zero = chunk.startswith(_ZERO_GRANULE[: end - offset], offset, end)
        if zero and start is not None:
            yield start, offset
            start = None
        elif not zero and start is None:
            start = offset
    if start is not None:
        yield start, len(chunk)


class PageSender:
    """Writes pages on a thread pool with a bounded number of writes in flight.

    On a resume, pages the partial blob already holds are read back and compared
    instead of sent (and sent when they differ); held pages where the file has
    zeros are cleared.
    """

    def __init__(
        self,
        blob: BlobClient,
        pool: ThreadPoolExecutor,
        limit: int,
        progress: Callable[[int], None] | None,
        written: WrittenPages | None = None,
    ) -> None:
        self.blob = blob
        self.pool = pool
        self.limit = limit
        self.progress = progress
        self.written = written
        self.bytes_sent = 0
        self.bytes_kept = 0
        self._pending: deque[tuple[int, list[Future[tuple[int, int]]]]] = deque()
        self._in_flight: set[Future[tuple[int, int]]] = set()

    def send_chunk(self, chunk: bytes, offset: int) -> None:
        """Queue the non-zero parts of a chunk that starts at `offset` in the blob."""
        futures = []
        held = (
            []
            if self.written is None
            else self.written.within(offset, offset + len(chunk))
        )
        data = list(nonzero_ranges(chunk))
        for start, end in data:
            part = chunk if start == 0 and end == len(chunk) else chunk[start:end]
            if _covers(held, offset + start, offset + end):
                futures.append(self._submit(self._keep, part, offset + start))
            else:
                futures.append(self._submit(self._write, part, offset + start))
        for start, end in _outside(held, [(offset + a, offset + b) for a, b in data]):
            futures.append(self._submit(self._clear, start, end))
        self._pending.append((offset + len(chunk), futures))
        self._report()

    def finish(self) -> None:
        """Wait for every queued write, raising the first failure."""
        self._settle(wait(self._in_flight).done)
        self._report()

    def _submit(
        self, work: Callable[..., tuple[int, int]], *args: Any
    ) -> Future[tuple[int, int]]:
        """Run one page operation once fewer than `limit` are in flight."""
        while len(self._in_flight) >= self.limit:
            done, _ = wait(self._in_flight, return_when=FIRST_COMPLETED)
            self._settle(done)
        future = self.pool.submit(work, *args)
        self._in_flight.add(future)
        return future

    def _write(self, part: bytes, offset: int) -> tuple[int, int]:
        """Put Page with a transactional MD5; the service refuses a damaged body."""
        self.blob.upload_page(
            part, offset=offset, length=len(part), validate_content=True
        )
        return len(part), 0

    def _keep(self, part: bytes, offset: int) -> tuple[int, int]:
        """Read back pages an earlier run wrote; send them again if they differ."""
        held = self.blob.download_blob(offset=offset, length=len(part)).readall()
        if held == part:
            return 0, len(part)
        return self._write(part, offset)

    def _clear(self, start: int, end: int) -> tuple[int, int]:
        """Clear pages an earlier run wrote where the file holds zeros."""
        self.blob.clear_page(offset=start, length=end - start)
        return 0, 0

    def _settle(self, done: set[Future[tuple[int, int]]]) -> None:
        """Forget finished writes, counting bytes sent, raising if one failed."""
        for future in done:
            self._in_flight.discard(future)
            sent, kept = future.result()
            self.bytes_sent += sent
            self.bytes_kept += kept

    def _report(self) -> None:
        """Tell the caller how many leading bytes are written or known to be zero."""
        reached = None
        while self._pending and all(f.done() for f in self._pending[0][1]):
            end, futures = self._pending.popleft()
            for future in futures:
                future.result()
            reached = end
        if reached is not None and self.progress is not None:
            self.progress(reached)


def _covers(held: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether the merged, sorted held ranges cover [start, end) entirely."""
    return any(a <= start and end <= b for a, b in held)


def _outside(
    held: list[tuple[int, int]], data: list[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """The parts of the held ranges that no data range (sorted) overlaps."""
    for a, b in held:
        cursor = a
        for start, end in data:
            if end <= cursor or start >= b:
                continue
            if start > cursor:
                yield cursor, start
            cursor = max(cursor, end)
        if cursor < b:
            yield cursor, b
