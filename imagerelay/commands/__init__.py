"""The `imagerelay` subcommands."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap lines at 80 columns when output is piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 170
    return Console(stderr=stderr, width=width, soft_wrap=width is not None)
