"""`status` and `cleanup` without Prefect, or with an inventory they cannot use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagerelay.cli import app


def _dead_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [["status"], ["cleanup", "--dry-run"]])
def test_prefect_down_is_one_line_and_exit_2(
    command: list[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/api"
    inventory = Path(__file__).parents[2] / "inventories" / "demo.yaml"
    env = {**os.environ, "PREFECT_API_URL": url, "IMAGERELAY_INVENTORY": str(inventory)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "imagerelay"), *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )

    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert url in done.stderr and "imagerelay stack up" in done.stderr


def test_cleanup_refuses_a_broken_inventory_before_any_flow_run(
    tmp_path: Path,
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("tier0:\n  storage_account: irtier0\ntargets: [\n")

    result = CliRunner().invoke(
        app, ["cleanup", "--dry-run", "--inventory", str(inventory)]
    )

    assert result.exit_code == 2
    assert "is not valid YAML" in result.output
    assert "Flow run" not in result.output
