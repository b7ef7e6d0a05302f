"""Start, stop and describe the local Azure + Prefect stack under one state folder."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devstack import services
from devstack.config import STACK_FILE, StackConfig, accounts_from_inventory
from devstack.faults import FaultProfile, set_profile
from devstack.faults.profile import save_profile
from devstack.processes import (
    Service,
    StackError,
    free_port,
    port_open,
)
from devstack.services import PROJECT_ROOT, WORK_POOL
from imagerelay.inventory import Inventory, load_inventory

DEFAULT_STATE_DIR = PROJECT_ROOT / ".stack"
ENV_MARKER = "# Written by `imagerelay stack up`; removed by `imagerelay stack down`."

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    url: str
    listening: bool


def up(
    state_dir: Path,
    inventory_path: Path,
    *,
    worker: bool = True,
    env_file: Path | None = PROJECT_ROOT / ".env",
    extra_inventories: tuple[Path, ...] = (),
    faults: FaultProfile | None = None,
) -> StackConfig:
    """Start every service not yet running and make the stack ready for a release.

    Args:
        extra_inventories: Azurite also serves their accounts, so they can be set
            up later (Azurite's accounts are fixed when it starts).
        faults: what the stack gets wrong on purpose; a running stack switches to
            it. Given (even all off), the fault proxy stands in front of Azurite's
            blob service; None: no faults and no proxy (uploads run faster).
    """
    state_dir = state_dir.resolve()
    inventory = load_inventory(inventory_path)
    extras = [load_inventory(path) for path in extra_inventories]
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # keys, the Prefect database and its encryption key
    config = _configure(state_dir, inventory, extras, storage_proxy=faults is not None)
    env = service_env(config, inventory_path.resolve())
    profile = faults or FaultProfile()
    save_profile(state_dir, profile)

    services.start_azurite(config)
    services.start_storage_proxy(config)
    services.start_arm(config, env)
    set_profile(config, profile)
    services.start_prefect_server(config, env)
    _register_prefect_objects(env)
    if env_file is not None:
        write_env_file(env_file, env)
    if worker:
        services.start_worker(config, env)
    return config


def down(state_dir: Path, env_file: Path | None = PROJECT_ROOT / ".env") -> list[str]:
    """Stop every service of the stack; the state folder is kept for the next up.

    Clients stop before Azurite, which waits for their connections to close: the
    worker first, then the Prefect server and the ARM emulator together, then Azurite.
    """
    stopped: list[str] = []
    waves = (["worker"], ["prefect-server", "arm", "storage-proxy"], ["azurite"])
    for wave in waves:
        group = [Service(name, state_dir.resolve()) for name in wave]
        with ThreadPoolExecutor(len(group)) as pool:
            results = list(pool.map(services.stop, group))
        stopped += [s.name for s, ok in zip(group, results, strict=True) if ok]
    if env_file is not None and _written_by_us(env_file):
        env_file.unlink()
    return stopped


def flush_prefect_clients() -> None:
    """Send this process's queued Prefect logs and events before the server stops.

    Otherwise they are retried against a stopped server at interpreter exit.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)


def status(state_dir: Path) -> list[ServiceStatus]:
    """Each service with its pid, URL and whether it answers on its port."""
    state_dir = state_dir.resolve()
    if not (state_dir / STACK_FILE).exists():
        return []
    config = StackConfig.load(state_dir)
    ports = {
        "azurite": (
            config.azurite_blob_port,
            f"http://{config.host}:{config.azurite_blob_port}",
        ),
        "storage-proxy": (config.blob_port, f"http://{config.host}:{config.blob_port}"),
        "arm": (config.arm_port, config.arm_endpoint),
        "prefect-server": (config.prefect_port, config.prefect_api_url[:-4]),
        "worker": (None, f"work pool {WORK_POOL}"),
    }
    rows = []
    for name in SERVICES:
        if name == "storage-proxy" and not config.storage_proxy:
            continue
        port, url = ports[name]
        pid = Service(name, state_dir).pid()
        listening = pid is not None and (port is None or port_open(config.host, port))
        rows.append(ServiceStatus(name, pid, url, listening))
    return rows


SERVICES = ("azurite", "storage-proxy", "arm", "prefect-server", "worker")


def service_env(config: StackConfig, inventory_path: Path) -> dict[str, str]:
    """Settings that point imagerelay, Prefect and azure-identity at this stack."""
    tier0 = config.accounts[0]
    keys = {account.name: account.key for account in config.served_accounts}
    return {
        "IMAGERELAY_INVENTORY": str(inventory_path),
        "IMAGERELAY_TIER0_CONNECTION_STRING": config.connection_string(tier0.name),
        "IMAGERELAY_BLOB_ENDPOINT": config.blob_endpoint,
        "IMAGERELAY_STORAGE_KEYS": json.dumps(keys),
        "IMAGERELAY_ARM_ENDPOINT": config.arm_endpoint,
        "IMAGERELAY_ARM_CA_BUNDLE": str(config.cert_path),
        "IMAGERELAY_ARM_POLLING_INTERVAL": "1",
        "IMAGERELAY_COPY_POLL_SECONDS": "1",
        "IMAGERELAY_STORAGE_RETRY_BACKOFF_SECONDS": "1",
        "IDENTITY_ENDPOINT": config.identity_endpoint,
        "IDENTITY_HEADER": config.identity_header,
        "PREFECT_API_URL": config.prefect_api_url,
        "PREFECT_UI_URL": config.prefect_api_url[:-4],
    }


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write the stack's settings to .env, never replacing a file we did not write."""
    if path.exists() and not _written_by_us(path):
        raise StackError(
            f"{path} exists and was not written by imagerelay; move it away or "
            "merge these variables into it:\n"
            + "\n".join(f"{name}=..." for name in env)
        )
    lines = [ENV_MARKER] + [f"{name}='{value}'" for name, value in env.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _written_by_us(path: Path) -> bool:
    return path.exists() and path.read_text().startswith(ENV_MARKER)


def _configure(
    state_dir: Path, inventory: Inventory, extras: list[Inventory], storage_proxy: bool
) -> StackConfig:
    previous = None
    if (state_dir / STACK_FILE).exists():
        previous = StackConfig.load(state_dir)
    names = list(inventory.storage_accounts)
    names += [n for extra in extras for n in extra.storage_accounts if n not in names]
    if previous and any(Service(name, state_dir).pid() for name in SERVICES):
        # Some service still runs on the old ports: keep them all.
        if {a.name for a in previous.served_accounts} != set(names):
            raise StackError(
                "the running stack serves other storage accounts than this "
                "inventory; run `imagerelay stack down` first"
            )
        if storage_proxy and not previous.storage_proxy:
            raise StackError(
                "the running stack was started without --faults, so no fault proxy "
                "stands in front of Azurite; run `imagerelay stack down` first"
            )
        return previous

    old_keys = {a.name: a.key for a in previous.served_accounts} if previous else {}
    # Linux caps one environment string at 128 KiB and AZURITE_ACCOUNTS lists every
    # key: large inventories (the fan-out bench's 3,000 accounts) get 16-byte keys.
    size = 64 if len(names) <= 500 else 16
    keys = {
        name: old_keys.get(name) or base64.b64encode(secrets.token_bytes(size)).decode()
        for name in names
    }
    accounts, groups = accounts_from_inventory(inventory, keys)
    extra_accounts = [
        account
        for extra in extras
        for account in accounts_from_inventory(extra, keys)[0]
        if account.name not in inventory.storage_accounts
    ]

    def port(name: str) -> int:
        return free_port(preferred=getattr(previous, name, None))

    config = StackConfig(
        state_dir=state_dir,
        blob_port=port("blob_port"),
        azurite_port=port("azurite_port") if storage_proxy else None,
        queue_port=port("queue_port"),
        table_port=port("table_port"),
        arm_port=port("arm_port"),
        identity_port=port("identity_port"),
        identity_header=previous.identity_header if previous else secrets.token_hex(16),
        prefect_port=port("prefect_port"),
        accounts=accounts,
        resource_groups=groups,
        extra_accounts=list({a.name: a for a in extra_accounts}.values()),
    )
    config.save()
    return config


def _register_prefect_objects(env: dict[str, str]) -> None:
    """Run imagerelay's setup flow against the stack: Azure resources, limits,
    blocks and the work pool."""
    command = [sys.executable, "-m", "devstack.register"]
    _run(command, {**os.environ, **env})


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise StackError(
            f"`{' '.join(command[:6])} ...` failed:\n{result.stdout}{result.stderr}"
        )
