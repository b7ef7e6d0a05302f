"""Faults and counters inside the ARM emulator."""

from __future__ import annotations

import random
import threading

from devstack.faults.counters import ArmCounters
from devstack.faults.profile import FaultProfile

IMAGE_FAILURE = {
    "code": "InvalidParameter",
    "message": "The VHD could not be read as an operating system disk while the "
    "image was being created (fault injected by the local stack).",
}
ERRORS = {
    "throttle": (
        429,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation "
        "type - Write_30Min. Please retry after the time in the Retry-After header.",
    ),
    "unavailable": (
        503,
        "ServiceUnavailable",
        "The service is currently unavailable. Please retry the request.",
    ),
    "error": (
        500,
        "InternalServerError",
        "Encountered internal server error. Please try again.",
    ),
}


class ArmFaults:
    """The emulator's fault profile, its random choices and its counters."""

    def __init__(self, profile: FaultProfile) -> None:
        self._lock = threading.Lock()
        self.profile = profile
        self._rng = random.Random(profile.seed)
        self.counters = ArmCounters()

    def set_profile(self, profile: FaultProfile) -> None:
        with self._lock:
            self.profile = profile
            self._rng = random.Random(profile.seed)

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = ArmCounters()

    def roll(self) -> str | None:
        """The transient fault this request meets, counted, or None."""
        with self._lock:
            roll = self._rng.random()
            profile = self.profile
            for kind, share in (
                ("throttle", profile.throttle_share),
                ("unavailable", profile.unavailable_share),
                ("error", profile.error_share),
                ("drop", profile.drop_share),
            ):
                if roll < share:
                    faults = self.counters.faults
                    faults[kind] = faults.get(kind, 0) + 1
                    return kind
                roll -= share
        return None

    def image_seconds(self, default: float) -> float:
        seconds = self.profile.image_seconds
        return default if seconds is None else seconds

    def image_failure(self, resource_id: str) -> dict[str, str] | None:
        """Azure's error for this image's creation, if the profile fails it."""
        return dict(IMAGE_FAILURE) if self.profile.image_fails(resource_id) else None

    def image_created(self, failed: bool) -> None:
        with self._lock:
            self.counters.images_created += 1
            if failed:
                self.counters.images_failed += 1

    def operations_running(self, subscription_id: str, running: int) -> None:
        """Note how many image operations one subscription runs at once."""
        key = subscription_id.lower()
        with self._lock:
            peaks = self.counters.max_image_operations_per_subscription
            peaks[key] = max(peaks.get(key, 0), running)
