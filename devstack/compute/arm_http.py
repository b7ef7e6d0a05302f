"""The request and response shapes every ARM route handler speaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from devstack.compute.errors import ArmError


@dataclass(frozen=True)
class ArmRequest:
    """What a route needs from one HTTP request."""

    method: str
    params: dict[str, str]
    query: dict[str, str]
    api_version: str
    origin: str
    body: bytes

    def json(self) -> object:
        """The JSON body, or ARM's refusal when it does not parse."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}",
            ) from exc


@dataclass(frozen=True)
class ArmResponse:
    """Status, JSON body (None for no content) and extra headers."""

    status: int
    body: object | None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ArmRequest], ArmResponse]
Route = tuple[str, dict[str, Handler]]
