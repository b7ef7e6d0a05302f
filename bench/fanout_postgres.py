"""A throwaway PostgreSQL cluster for the Prefect server, from Debian's package.

Installed with apt-get when missing. The bench runs as root and postgres refuses root,
so every server command runs as the `postgres` user through runuser.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.processes import free_port


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def ensure_installed() -> Path:
    """The directory of initdb and pg_ctl, installing Debian's postgresql if needed."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        print("installing postgresql with apt-get", flush=True)
        env = {
            "DEBIAN_FRONTEND": "noninteractive",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env
        )
        bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("postgresql installed but pg_ctl was not found")
    return bin_dir


def _as_postgres(command: list[str]) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        check=True,
        capture_output=True,
        text=True,
    )


@contextmanager
def cluster() -> Iterator[str]:
    """Start a fresh cluster on a free port; yield Prefect's connection URL."""
    bin_dir = ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="imagerelay-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        _as_postgres(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        _as_postgres(
            [
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        )
        _as_postgres(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "prefect"]
        )
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                pg_ctl,
                "-D",
                str(data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
