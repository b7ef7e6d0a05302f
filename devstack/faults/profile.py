"""What the stack does wrong on purpose: the fault profile set per run or per test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILE_FILE = "faults.json"


class FaultProfile(BaseModel):
    """Fault rates and delays; every field defaults to off (a well-behaved stack).

    Storage faults happen in the proxy in front of Azurite, ARM faults inside the
    emulator. Shares are fractions of requests (or copies, or images) from 0 to 1.
    """

    model_config = ConfigDict(extra="forbid")

    copy_mib_per_s: float | None = Field(
        default=None,
        gt=0,
        description="Copies stay pending for size / rate seconds; None: instant.",
    )
    copy_fail_share: float = Field(
        default=0.0, ge=0, le=1, description="Copies that end failed."
    )
    copy_stall_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Copies that stay pending until aborted, decided per source and "
        "destination blob (the same pair always stalls).",
    )
    throttle_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Requests throttled: ARM 429, storage 503 ServerBusy.",
    )
    unavailable_share: float = Field(
        default=0.0, ge=0, le=1, description="Requests answered 503 with Retry-After."
    )
    error_share: float = Field(
        default=0.0, ge=0, le=1, description="Requests answered 500."
    )
    drop_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Requests whose connection is closed before they are served.",
    )
    retry_after_seconds: float = Field(
        default=1.0, ge=0, description="Retry-After sent with 429 and 503."
    )
    image_seconds: float | None = Field(
        default=None,
        ge=0,
        description="How long an image operation runs; None: the stack's default.",
    )
    image_fail_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Images whose creation ends Failed (decided per image name).",
    )
    seed: int = Field(default=0, description="Seed of every random choice.")

    def copy_stalls(self, source: str, destination: str) -> bool:
        """Whether a copy stalls; blobs as "account/container/blob"."""
        return chosen(self.seed, f"{source}>{destination}", self.copy_stall_share)

    def image_fails(self, resource_id: str) -> bool:
        """Whether this image's creation fails: the same answer on every attempt."""
        return chosen(self.seed, resource_id.lower(), self.image_fail_share)


def chosen(seed: int, key: str, share: float) -> bool:
    """A stable pseudo-random choice of a share of keys."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def load_profile(path: Path) -> FaultProfile:
    """A profile from a YAML (or JSON) file, with a clear error for bad input."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read fault profile {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"fault profile {path} is not valid YAML: {exc}") from None
    try:
        return FaultProfile.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'profile'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(
            f"fault profile {path} is invalid: {problems}; see "
            "devstack/faults/profile.py for the fields"
        ) from None


def saved_profile(state_dir: Path) -> FaultProfile:
    """The profile saved in the state folder, or no faults."""
    path = state_dir / PROFILE_FILE
    if not path.exists():
        return FaultProfile()
    return FaultProfile.model_validate_json(path.read_text())


def save_profile(state_dir: Path, profile: FaultProfile) -> None:
    """Keep the profile for services started later (and restarts)."""
    path = state_dir / PROFILE_FILE
    path.write_text(profile.model_dump_json(indent=2))
