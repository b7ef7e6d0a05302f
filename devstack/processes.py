"""Background services of the local stack: start detached, track by pid file, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A stack service could not be started or reached; the message says why."""


@dataclass(frozen=True)
class Service:
    """One background process of the stack, with its pid file and log."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None  # our own child, killed and now reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def start(
        self, command: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> int:
        """Start the command in its own session, logging to the service's log file."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def stop(
        self, timeout: float = 15.0, closed_marks: tuple[str, int] | None = None
    ) -> bool:
        """Stop the service's process group; True when something was running.

        Args:
            closed_marks: (text, count): the service has shut down cleanly once its
                log shows text count times after the signal, even if the process
                lingers; it is then killed.
        """
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            if closed_marks and self._logged_since(log_offset, *closed_marks):
                break
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _logged_since(self, offset: int, text: str, count: int) -> bool:
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace").count(text) >= count

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(
                self.log_file.read_text(errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def free_port(host: str = "127.0.0.1", preferred: int | None = None) -> int:
    """A port free on host now: the preferred one if it is, else one the OS picks."""
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket() as sock:
            # As servers bind: a port whose old connections linger is still free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise StackError(f"no free port on {host}")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(service: Service, host: str, port: int, timeout: float) -> None:
    """Wait until the service listens, failing with its log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if service.pid() is None:
            raise StackError(
                f"{service.name} exited during start; its log "
                f"({service.log_file}) ends with:\n{service.tail()}"
            )
        time.sleep(0.2)
    raise StackError(
        f"{service.name} did not listen on {host}:{port} within {timeout:.0f} s; "
        f"see {service.log_file}"
    )
