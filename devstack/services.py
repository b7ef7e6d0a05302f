"""The stack's services: how each one is started, checked and stopped."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path

from devstack.config import StackConfig
from devstack.processes import Service, StackError, wait_for_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORK_POOL = "imagerelay"


def start_azurite(config: StackConfig) -> None:
    service = Service("azurite", config.state_dir)
    if service.pid() is not None:
        return
    binary = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise StackError("Azurite is not installed; run `npm ci` in the project root")
    accounts = ";".join(f"{a.name}:{a.key}" for a in config.served_accounts)
    env = {**os.environ, "AZURITE_ACCOUNTS": accounts}
    location = config.state_dir / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    service.start(
        [
            str(binary),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--location", str(location),
            "--blobHost", config.host, "--blobPort", str(config.azurite_blob_port),
            "--queueHost", config.host, "--queuePort", str(config.queue_port),
            "--tableHost", config.host, "--tablePort", str(config.table_port),
        ],
        env,
    )  # fmt: skip
    for port in (config.azurite_blob_port, config.queue_port, config.table_port):
        wait_for_port(service, config.host, port, timeout=30)


def start_storage_proxy(config: StackConfig) -> None:
    """mitmproxy in reverse mode in front of Azurite's blob service, with our addon."""
    service = Service("storage-proxy", config.state_dir)
    if not config.storage_proxy or service.pid() is not None:
        return
    addon = PROJECT_ROOT / "devstack" / "faults" / "storage_proxy.py"
    confdir = config.state_dir / "mitmproxy"
    confdir.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "mitmdump"),
        "--mode", f"reverse:http://{config.host}:{config.azurite_blob_port}",
        "--listen-host", config.host, "--listen-port", str(config.blob_port),
        "--scripts", str(addon),
        "--set", f"confdir={confdir}",
        "--set", "stream_large_bodies=1m",
        "--set", "connection_strategy=lazy",
        # Azurite copies in-process only from a source on the Host it was called as.
        "--set", "keep_host_header=true",
        "--set", "termlog_verbosity=warn",
        "--set", "flow_detail=0",
    ]  # fmt: skip
    env = {**os.environ, "DEVSTACK_STATE_DIR": str(config.state_dir)}
    service.start(command, env, cwd=PROJECT_ROOT)
    wait_for_port(service, config.host, config.blob_port, timeout=30)


def start_arm(config: StackConfig, env: dict[str, str]) -> None:
    service = Service("arm", config.state_dir)
    if service.pid() is not None:
        return
    command = [
        sys.executable, "-m", "devstack.compute", "--state-dir", str(config.state_dir)
    ]  # fmt: skip
    service.start(command, {**os.environ, **env}, cwd=PROJECT_ROOT)
    wait_for_port(service, config.host, config.arm_port, timeout=30)
    wait_for_port(service, config.host, config.identity_port, timeout=10)


def start_prefect_server(config: StackConfig, env: dict[str, str]) -> None:
    service = Service("prefect-server", config.state_dir)
    if service.pid() is None:
        home = config.state_dir / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        server_env = {
            **os.environ,
            **env,
            "PREFECT_HOME": str(home),
            # The fan-out bench points the server at PostgreSQL through this.
            "PREFECT_API_DATABASE_CONNECTION_URL": os.environ.get(
                "IMAGERELAY_STACK_DATABASE_URL",
                f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            ),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        command = [
            sys.executable, "-m", "prefect", "server", "start",
            "--host", config.host, "--port", str(config.prefect_port),
        ]  # fmt: skip
        service.start(command, server_env, cwd=PROJECT_ROOT)
    _wait_for_prefect(service, config, timeout=120)


def _wait_for_prefect(service: Service, config: StackConfig, timeout: float) -> None:
    health = f"{config.prefect_api_url}/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if service.pid() is None:
            raise StackError(
                f"the Prefect server exited during start; {service.log_file} ends "
                f"with:\n{service.tail()}"
            )
        time.sleep(0.5)
    raise StackError(f"the Prefect server did not answer {health} in {timeout:.0f} s")


def start_worker(config: StackConfig, env: dict[str, str]) -> None:
    service = Service("worker", config.state_dir)
    if service.pid() is not None:
        return
    command = [
        sys.executable, "-m", "prefect", "worker", "start",
        "--pool", WORK_POOL, "--name", "imagerelay-local",
    ]  # fmt: skip
    worker_env = {
        **os.environ,
        **env,
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "imagerelay",
    }
    service.start(command, worker_env, cwd=PROJECT_ROOT)


def stop(service: Service) -> bool:
    if service.name == "azurite":
        # Azurite logs this for blob, queue and table once their data is saved, but
        # its process can linger for many seconds afterwards.
        return service.stop(closed_marks=("successfully closed", 3))
    return service.stop()
