"""What ARM holds, kept in <state_dir>/arm/state.sqlite so a restart keeps it.

One table per kind of resource and one row per resource: a change writes that row,
not every resource of its kind (at bench scale the emulator holds 6,000 images and
3,000 storage accounts; rewriting a JSON file of all of them on each change made
image creation quadratic). SQLite's WAL journal lets other processes read while
the emulator writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STATE_FILE = "state.sqlite"


class StateTable:
    """The saved resources of one kind, as JSON objects under string keys."""

    def __init__(self, arm_dir: Path, kind: str) -> None:
        if not kind.isidentifier():
            raise ValueError(f"not a table name: {kind!r}")
        arm_dir.mkdir(parents=True, exist_ok=True)
        self._kind = kind
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            arm_dir / STATE_FILE,
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {kind} (key TEXT PRIMARY KEY, body TEXT)"
        )

    def rows(self) -> list[dict[str, Any]]:
        """Every saved resource of this kind."""
        with self._lock:
            found = self._db.execute(f"SELECT body FROM {self._kind}").fetchall()
        return [json.loads(body) for (body,) in found]

    def put(self, key: str, content: dict[str, Any]) -> None:
        """Save one resource, replacing what was saved under its key."""
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO {self._kind} (key, body) VALUES (?, ?)",
                (key, json.dumps(content)),
            )

    def delete(self, keys: Iterable[str]) -> None:
        """Forget the resources under these keys."""
        with self._lock:
            self._db.executemany(
                f"DELETE FROM {self._kind} WHERE key = ?", [(key,) for key in keys]
            )


def saved_rows(arm_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The saved resources of one kind, read by another process (read-only)."""
    path = arm_dir / STATE_FILE
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        found = db.execute(f"SELECT body FROM {kind}").fetchall()
    except sqlite3.OperationalError:
        return []  # the table is created when the emulator first saves that kind
    finally:
        db.close()
    return [json.loads(body) for (body,) in found]


def row_key(*parts: str) -> str:
    """A table key from a resource's identifying parts."""
    return "/".join(parts)
