"""The App Service managed-identity endpoint and the bearer tokens it issues."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

TOKEN_SECONDS = 24 * 3600
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ARM_AUDIENCES = frozenset(
    {
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    }
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Token:
    """An access token and when it stops being accepted."""

    access_token: str
    expires_on: int
    resource: str
    client_id: str


class TokenIssuer:
    """Issues HS256 JWTs keyed by the identity header, so a restart keeps them valid."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"imagerelay-devstack:" + secret.encode()).digest()
        self.client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "devstack:" + secret))

    def issue(self, resource: str, client_id: str | None = None) -> Token:
        """A token for the resource, valid for a day."""
        now = int(time.time())
        expires_on = now + TOKEN_SECONDS
        principal = client_id or self.client_id
        claims = {
            "aud": resource.removesuffix("/.default"),
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "tid": TENANT_ID,
            "appid": principal,
            "oid": principal,
            "jti": secrets.token_hex(8),
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(
            self._key, f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        return Token(
            access_token=f"{header}.{payload}.{_b64(signature)}",
            expires_on=expires_on,
            resource=resource,
            client_id=principal,
        )

    def verify(self, access_token: str, audiences: frozenset[str]) -> str | None:
        """None if the token is ours, unexpired and for an audience; else why not."""
        parts = access_token.split(".")
        if len(parts) != 3:
            return "The access token is not a JWT."
        header, payload, signature = parts
        expected = hmac.new(
            self._key, f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        try:
            genuine = hmac.compare_digest(_unb64(signature), expected)
            claims = json.loads(_unb64(payload))
        except ValueError:
            return "The access token could not be decoded."
        if not genuine:
            return "The access token was not issued by this identity endpoint."
        if claims.get("exp", 0) <= time.time():
            return "The access token expiry UTC time is earlier than current UTC time."
        if claims.get("aud") not in audiences:
            return f"The access token has an invalid audience '{claims.get('aud')}'."
        return None


class IdentityHandler(BaseHTTPRequestHandler):
    """Answers `GET /msi/token` the way App Service's identity endpoint does."""

    server_version = "devstack-identity/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    issuer: TokenIssuer
    identity_header: str

    def do_GET(self) -> None:
        """Issue a token when the secret header and the parameters are right."""
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}

        if url.path.rstrip("/") != "/msi/token":
            self._answer(404, {"error": "not_found", "message": url.path})
            return
        offered = self.headers.get("X-IDENTITY-HEADER", "")
        if not hmac.compare_digest(offered.encode(), self.identity_header.encode()):
            self._answer(
                401,
                {
                    "statusCode": 401,
                    "message": "Unauthorized: the X-IDENTITY-HEADER header is "
                    "missing or does not match IDENTITY_HEADER.",
                },
            )
            return
        if query.get("api-version") != "2019-08-01" or not query.get("resource"):
            self._answer(
                400,
                {
                    "statusCode": 400,
                    "message": "api-version=2019-08-01 and resource are required; "
                    f"got api-version={query.get('api-version')!r} "
                    f"resource={query.get('resource')!r}.",
                },
            )
            return

        token = self.issuer.issue(query["resource"], query.get("client_id"))
        self._answer(
            200,
            {
                "access_token": token.access_token,
                "expires_on": str(token.expires_on),
                "resource": token.resource,
                "token_type": "Bearer",
                "client_id": token.client_id,
            },
        )

    def _answer(self, status: int, body: dict[str, object]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request; the query holds no secret, the header is not shown."""
        logger.info("identity %s %s %s", self.command, self.path, code)

    def log_message(self, format: str, *args: object) -> None:
        """Route http.server's own messages to logging."""
        logger.warning("identity %s", format % args)
