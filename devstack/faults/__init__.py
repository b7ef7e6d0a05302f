"""A stack that fails the way Azure fails: set a fault profile, read what it saw.

Storage faults live in the mitmproxy addon in front of Azurite (storage_proxy.py),
ARM faults inside the emulator. Both answer /__devstack/faults/{profile,counters}.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

from devstack.config import StackConfig
from devstack.faults.counters import ArmCounters, FaultCounters, StorageCounters
from devstack.faults.profile import FaultProfile, save_profile
from devstack.processes import StackError

__all__ = [
    "ArmCounters",
    "FaultCounters",
    "FaultProfile",
    "StorageCounters",
    "read_counters",
    "reset_counters",
    "set_profile",
]

CONTROL = "/__devstack/faults/"
# Storage faults need the proxy; ARM ones happen inside the emulator.
STORAGE_FIELDS = {
    "copy_mib_per_s",
    "copy_fail_share",
    "copy_stall_share",
    "throttle_share",
    "unavailable_share",
    "error_share",
    "drop_share",
}


def set_profile(config: StackConfig, profile: FaultProfile) -> None:
    """Switch the running stack to this profile (and keep it for restarts)."""
    storage_faults = profile.model_dump(include=STORAGE_FIELDS) != FaultProfile(
        seed=profile.seed
    ).model_dump(include=STORAGE_FIELDS)
    if storage_faults and not config.storage_proxy:
        raise StackError(
            "this stack has no fault proxy in front of Azurite, so it cannot slow or "
            "fail storage requests; start it with `imagerelay stack up --faults "
            "FILE.yaml` (or stack.up(..., faults=FaultProfile()))"
        )
    save_profile(config.state_dir, profile)
    body = profile.model_dump_json().encode()
    if config.storage_proxy:
        _call(config, "storage", "PUT", "profile", body)
    _call(config, "arm", "PUT", "profile", body)


def read_counters(config: StackConfig) -> FaultCounters:
    """What the stack saw since the last reset."""
    storage = StorageCounters()
    if config.storage_proxy:
        storage = StorageCounters.model_validate(
            _call(config, "storage", "GET", "counters")
        )
    arm = ArmCounters.model_validate(_call(config, "arm", "GET", "counters"))
    return FaultCounters(storage=storage, arm=arm)


def reset_counters(config: StackConfig) -> None:
    """Start counting afresh (peaks, copies, images, faults)."""
    if config.storage_proxy:
        _call(config, "storage", "DELETE", "counters")
    _call(config, "arm", "DELETE", "counters")


def _call(
    config: StackConfig, side: str, method: str, what: str, body: bytes | None = None
) -> Any:
    if side == "storage":
        url = f"http://{config.host}:{config.blob_port}{CONTROL}{what}"
        context = None
    else:
        url = f"{config.arm_endpoint}{CONTROL}{what}"
        context = ssl.create_default_context(cafile=str(config.cert_path))
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={
            "x-devstack-control": config.identity_header,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.loads(response.read())
    except OSError as exc:
        raise StackError(
            f"the stack's {side} fault control at {url} did not answer ({exc}); is "
            "the stack up (`imagerelay stack status`)?"
        ) from None
