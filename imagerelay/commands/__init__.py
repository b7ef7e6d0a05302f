"""The `imagerelay` subcommands."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap lines at 80 columns when output is piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 170
    return Console(stderr=stderr, width=width, soft_wrap=width is not None)


def fail(message: str) -> NoReturn:
    """Print the problem on stderr, literally (never as markup), and exit 2."""
    make_console(stderr=True).print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)
