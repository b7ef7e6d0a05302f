"""Azure-AsyncOperation records: InProgress until their time, then Succeeded."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from devstack.compute.state_files import StateTable
from devstack.faults.arm import ArmFaults
from devstack.faults.profile import FaultProfile

KEEP_SECONDS = 3600.0


def iso_time(epoch: float) -> str:
    """ARM's timestamp format."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Operation:
    """One asynchronous operation of one subscription in one region."""

    id: str
    subscription_id: str
    location: str
    started_at: float
    done_at: float
    error: dict[str, str] | None = None

    def url_path(self) -> str:
        """The path the Azure-AsyncOperation header points at."""
        return (
            f"/subscriptions/{self.subscription_id}/providers/Microsoft.Compute/"
            f"locations/{self.location}/operations/{self.id}"
        )

    def body(self, now: float) -> dict[str, object]:
        """The operation status document the LRO poller reads."""
        status: dict[str, object] = {
            "name": self.id,
            "startTime": iso_time(self.started_at),
        }
        if now < self.done_at:
            status["status"] = "InProgress"
        else:
            status["status"] = "Failed" if self.error else "Succeeded"
            status["endTime"] = iso_time(self.done_at)
            if self.error:
                status["error"] = self.error
        return status


class OperationLog:
    """The operations of the last hour, each saved to the emulator's state."""

    def __init__(self, table: StateTable, faults: ArmFaults | None = None) -> None:
        self._table = table
        self.faults = faults or ArmFaults(FaultProfile())
        self._lock = threading.Lock()
        self._operations = {entry["id"]: Operation(**entry) for entry in table.rows()}

    def start(
        self,
        subscription_id: str,
        location: str,
        seconds: float,
        error: dict[str, str] | None = None,
    ) -> Operation:
        """Record an operation that ends after the given seconds (Failed on error)."""
        now = time.time()
        operation = Operation(
            id=str(uuid.uuid4()),
            subscription_id=subscription_id,
            location=location,
            started_at=now,
            done_at=now + seconds,
            error=error,
        )
        with self._lock:
            expired = [
                key
                for key, kept in self._operations.items()
                if kept.done_at <= now - KEEP_SECONDS
            ]
            for key in expired:
                del self._operations[key]
            self._table.delete(expired)
            self._operations[operation.id] = operation
            self._table.put(operation.id, asdict(operation))
            subscription = subscription_id.lower()
            running = sum(
                1
                for kept in self._operations.values()
                if kept.done_at > now
                and kept.subscription_id.lower() == subscription
                and kept.started_at <= now
            )
            self.faults.operations_running(subscription_id, max(running, 1))
        return operation

    def get(self, subscription_id: str, operation_id: str) -> Operation | None:
        """The operation, if this subscription started it."""
        with self._lock:
            operation = self._operations.get(operation_id.lower())
        if operation and operation.subscription_id.lower() == subscription_id.lower():
            return operation
        return None
