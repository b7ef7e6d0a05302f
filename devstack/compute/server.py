"""HTTPS plumbing of the ARM emulator: TLS, bearer tokens, api-version, JSON."""

from __future__ import annotations

import json
import logging
import ssl
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devstack.compute.errors import ArmError
from devstack.compute.identity import ARM_AUDIENCES, TokenIssuer
from devstack.compute.routes import ArmResponse, ArmRoutes
from devstack.faults.arm import ERRORS, ArmFaults
from devstack.faults.profile import FaultProfile

CONTROL = "/__devstack/faults/"
CONTROL_HEADER = "x-devstack-control"

logger = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024


def fault_response(kind: str, faults: ArmFaults) -> ArmResponse:
    """What an injected fault answers; 429 and 503 carry Retry-After."""
    status, code, message = ERRORS[kind]
    headers = {}
    if status in (429, 503):
        headers["Retry-After"] = f"{faults.profile.retry_after_seconds:g}"
    return ArmResponse(status, {"error": {"code": code, "message": message}}, headers)


class ArmServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS-wrapped in their thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        routes: ArmRoutes,
        issuer: TokenIssuer,
        cert_path: Path,
        key_path: Path,
    ) -> None:
        super().__init__(address, ArmHandler)
        self.routes = routes
        self.issuer = issuer
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_path, key_path)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a failed connection; port probes and TLS aborts are normal."""
        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError)):
            logger.debug("arm connection from %s closed: %s", client_address, error)
        else:
            logger.exception("arm connection from %s failed", client_address)


class ArmHandler(BaseHTTPRequestHandler):
    """One ARM request: authenticate, check api-version, route, answer JSON."""

    server: ArmServer
    server_version = "devstack-arm/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120

    def setup(self) -> None:
        """Finish the TLS handshake here, so a slow client holds only its thread."""
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve a PUT."""
        self._serve()

    def do_HEAD(self) -> None:
        """Serve a HEAD (answered without a body)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve a PATCH (refused by routing: images are replaced with PUT here)."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST (refused by routing)."""
        self._serve()

    def _serve(self) -> None:
        self._started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= MAX_BODY else b""
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path.startswith(CONTROL):
            self._answer(self._control(url.path[len(CONTROL) :], body))
            return
        fault = self.server.routes.operations.faults.roll()
        if fault == "drop":
            self.close_connection = True
            return
        if fault is not None:
            self._answer(fault_response(fault, self.server.routes.operations.faults))
            return
        try:
            self._authenticate()
            if not query.get("api-version"):
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for "
                    "all requests.",
                )
            origin = f"https://{self.headers.get('Host') or self._host()}"
            response = self.server.routes.dispatch(
                self.command, unquote(url.path), query, origin, body
            )
        except ArmError as exc:
            response = ArmResponse(exc.status, exc.body())
        except Exception:
            logger.exception("arm %s %s failed", self.command, url.path)
            response = ArmResponse(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": "The local ARM emulator failed; see its log.",
                    }
                },
            )
        self._answer(response)

    def _control(self, what: str, body: bytes) -> ArmResponse:
        """The fault profile and counters, for devstack.faults."""
        faults = self.server.routes.operations.faults
        if (
            self.headers.get(CONTROL_HEADER)
            != self.server.routes.config.identity_header
        ):
            return ArmResponse(403, {"error": {"code": "Forbidden", "message": what}})
        if what == "profile" and self.command == "PUT":
            faults.set_profile(FaultProfile.model_validate_json(body or b"{}"))
        elif what == "counters" and self.command == "DELETE":
            faults.reset_counters()
        elif what not in ("profile", "counters"):
            return ArmResponse(404, {"error": {"code": "NotFound", "message": what}})
        model = faults.profile if what == "profile" else faults.counters
        return ArmResponse(200, model.model_dump(mode="json"))

    def _host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def _authenticate(self) -> None:
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is not a bearer "
                "token.",
            )
        problem = self.server.issuer.verify(token.strip(), ARM_AUDIENCES)
        if problem:
            raise ArmError(401, "InvalidAuthenticationToken", problem)

    def _answer(self, response: ArmResponse) -> None:
        raw = b"" if response.body is None else json.dumps(response.body).encode()
        if self.command == "HEAD":
            raw = b""
        request_id = str(uuid.uuid4())
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if response.status == 401:
            self.send_header(
                "WWW-Authenticate",
                'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                'error="invalid_token"',
            )
        self.send_header("x-ms-request-id", request_id)
        self.send_header(
            "x-ms-correlation-request-id",
            self.headers.get("x-ms-client-request-id") or request_id,
        )
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """One line per request: method, path, status, milliseconds; no headers."""
        elapsed = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1e3
        logger.info("arm %s %s %s %.1fms", self.command, self.path, code, elapsed)

    def log_message(self, format: str, *args: object) -> None:
        """Route http.server's own messages to logging."""
        logger.warning("arm %s", format % args)
