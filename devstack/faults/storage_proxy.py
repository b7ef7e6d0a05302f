"""mitmproxy addon in front of Azurite: copies that take time, and transient faults.

Run by `imagerelay stack up` as `mitmdump --mode reverse:<azurite> -s <this file>`
with DEVSTACK_STATE_DIR set. Azurite still does every copy (instantly); the addon
answers for the destination as Azure would while the copy is pending, failed or
aborted, refuses writes onto a pending copy, and counts concurrency.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from azure.storage.blob import BlobClient
from mitmproxy import http

from devstack.config import StackConfig
from devstack.faults.copies import BlobKey, CopyBook, list_with_copies
from devstack.faults.profile import FaultProfile, saved_profile

logger = logging.getLogger(__name__)

CONTROL = "/__devstack/faults/"
CONTROL_HEADER = "x-devstack-control"
ERRORS = {
    "throttle": (503, "ServerBusy", "The server is busy."),
    "unavailable": (503, "ServerBusy", "The server is currently unavailable."),
    "error": (
        500,
        "InternalError",
        "The server encountered an internal error. Please retry the request.",
    ),
}


def storage_error(status: int, code: str, message: str) -> http.Response:
    """An error in Azure Storage's XML shape, with x-ms-error-code."""
    request_id = str(uuid.uuid4())
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error>'
        f"<Code>{code}</Code><Message>{message}\nRequestId:{request_id}\n"
        f"Time:{email.utils.formatdate(usegmt=True)}</Message></Error>"
    )
    return http.Response.make(
        status,
        body.encode(),
        {
            "Content-Type": "application/xml",
            "x-ms-error-code": code,
            "x-ms-request-id": request_id,
            "x-ms-version": "2021-08-06",
        },
    )


def blob_key(path: str) -> BlobKey | None:
    """(account, container, blob) of a path-style blob URL path, or None."""
    parts = unquote(urlsplit(path).path).lstrip("/").split("/", 2)
    if len(parts) < 3 or not parts[2]:
        return None
    return (parts[0], parts[1], parts[2])


def _without_query(url: str) -> str:
    """The URL without its query, so no SAS is kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class StorageFaults:
    """The addon: one CopyBook for the proxy's lifetime."""

    def __init__(self) -> None:
        self.config = StackConfig.load(Path(os.environ["DEVSTACK_STATE_DIR"]))
        self.book = CopyBook()
        self.book.set_profile(saved_profile(self.config.state_dir))
        self.public = f"{self.config.host}:{self.config.blob_port}"
        self.private = f"{self.config.host}:{self.config.azurite_blob_port}"

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Answer control calls, inject faults, refuse, abort or truncate."""
        request = flow.request
        if request.path.startswith(CONTROL):
            return
        # Azurite checks a copy source by reading it through us: no faults for it.
        from_azurite = request.headers.get("user-agent", "").startswith("axios")
        kind = None if from_azurite else self.book.roll_fault()
        if kind is not None:
            self.book.count_fault(kind)
            if kind == "drop":
                # Limitation: drops happen before Azurite sees the request; a
                # response lost after the work was done is not simulated.
                flow.kill()
                return
            status, code, message = ERRORS[kind]
            self._answer(flow, storage_error(status, code, message))
            if status == 503:
                retry_after = self.book.profile.retry_after_seconds
                flow.response.headers["Retry-After"] = f"{retry_after:g}"  # type: ignore[union-attr]
            return
        key = blob_key(request.path)
        if key is None:
            return
        now = time.time()
        record = self.book.records.get(key)
        if record is not None and record.needs_truncation(now):
            await asyncio.to_thread(self._truncate, key)
            record.truncated = True
        headers = request.headers
        comp = request.query.get("comp", "")
        if request.method == "PUT" and comp == "copy":
            # Limitation: the proxy answers Abort Copy Blob itself, without
            # checking the request's signature as Azurite would.
            if headers.get("x-ms-copy-action", "").lower() == "abort":
                await self._abort(flow, key, request.query.get("copyid", ""))
            return
        writes = ("", "page", "block", "blocklist")
        if request.method == "PUT" and comp in writes and self.book.pending(key, now):
            self._answer(
                flow,
                storage_error(
                    409,
                    "PendingCopyOperation",
                    "There is currently a pending copy operation.",
                ),
            )

    def response(self, flow: http.HTTPFlow) -> None:
        """List Blobs shows each destination's copy as Get Blob Properties does."""
        request, response = flow.request, flow.response
        query = request.query
        if (
            response is None
            or request.method != "GET"
            or response.status_code != 200
            or query.get("comp") != "list"
            or query.get("restype") != "container"
            or not self.book.records
        ):
            return
        parts = urlsplit(request.path).path.strip("/").split("/")
        if len(parts) != 2:
            return
        response.content = list_with_copies(
            response.content or b"", self.book, (parts[0], parts[1]), time.time()
        )

    def request(self, flow: http.HTTPFlow) -> None:
        """Serve the control endpoints (their bodies are read by now)."""
        if flow.request.path.startswith(CONTROL) and flow.response is None:
            flow.response = self._control(flow.request)

    async def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Record copies Azurite accepted; show destinations as Azure would."""
        request, response = flow.request, flow.response
        if response is None or request.path.startswith(CONTROL):
            return
        key = blob_key(request.path)
        if key is None:
            return
        comp = request.query.get("comp", "")
        source = request.headers.get("x-ms-copy-source")
        if request.method == "PUT" and comp == "" and source:
            if response.status_code == 202:
                size = await asyncio.to_thread(self._size, key)
                source_key = blob_key(urlsplit(source).path) or ("", "", "")
                started = self.book.start(
                    key,
                    response.headers.get("x-ms-copy-id", str(uuid.uuid4())),
                    _without_query(source),
                    "/".join(source_key),
                    size,
                )
                response.headers["x-ms-copy-status"] = started.status(time.time())
            return
        if request.method == "DELETE" and response.status_code == 202:
            self.book.forget(key)
            return
        if request.method == "PUT" and comp == "" and response.status_code == 201:
            self.book.forget(key)
            return
        record = self.book.records.get(key)
        if record is None or request.method not in ("GET", "HEAD"):
            return
        if response.status_code not in (200, 206):
            return
        for name, value in record.headers(time.time()).items():
            response.headers[name] = value
        if record.status(time.time()) == "pending":
            response.headers.pop("x-ms-copy-completion-time", None)
            response.headers.pop("x-ms-copy-status-description", None)

    async def _abort(self, flow: http.HTTPFlow, key: BlobKey, copy_id: str) -> None:
        problem = self.book.abort(key, copy_id)
        if problem == "NoPendingCopyOperation":
            message = "There is currently no pending copy operation."
        elif problem == "CopyIdMismatch":
            message = (
                "The specified copy ID did not match the copy ID for the pending "
                "copy operation."
            )
        else:
            await asyncio.to_thread(self._truncate, key)
            self.book.records[key].truncated = True
            response = http.Response.make(
                204,
                b"",
                {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": "2021-08-06"},
            )
            self._answer(flow, response)
            return
        self._answer(flow, storage_error(409, problem, message))

    def _answer(self, flow: http.HTTPFlow, response: http.Response) -> None:
        flow.request.stream = False
        flow.response = response

    def _blob(self, key: BlobKey) -> BlobClient:
        account = self.config.account(key[0])
        if account is None:
            raise KeyError(key[0])
        return BlobClient(
            f"http://{self.private}/{account.name}",
            key[1],
            key[2],
            credential={"account_name": account.name, "account_key": account.key},
        )

    def _size(self, key: BlobKey) -> int:
        with self._blob(key) as blob:
            return int(blob.get_blob_properties().size)

    def _truncate(self, key: BlobKey) -> None:
        """Leave the destination zero-length with its metadata, as Azure does."""
        with self._blob(key) as blob:
            props = blob.get_blob_properties()
            if props.blob_type == "PageBlob":
                blob.create_page_blob(0, metadata=props.metadata)
            else:
                blob.upload_blob(b"", overwrite=True, metadata=props.metadata)

    def _control(self, request: http.Request) -> http.Response:
        if request.headers.get(CONTROL_HEADER) != self.config.identity_header:
            return http.Response.make(403, b"control header missing or wrong")
        what = request.path[len(CONTROL) :]
        if what == "profile" and request.method == "PUT":
            self.book.set_profile(
                FaultProfile.model_validate_json(request.content or b"{}")
            )
        elif what == "counters" and request.method == "DELETE":
            self.book.reset_counters()
        elif what not in ("profile", "counters"):
            return http.Response.make(404, b"unknown control path")
        body = (
            self.book.profile.model_dump_json()
            if what == "profile"
            else self.book.counters.model_dump_json()
        )
        return http.Response.make(
            200, body.encode(), {"Content-Type": "application/json"}
        )


# mitmdump loads this file as a script; importing it elsewhere does nothing.
addons = [StorageFaults()] if "DEVSTACK_STATE_DIR" in os.environ else []
