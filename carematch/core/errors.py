"""Domain errors carry their HTTP status and problem type; one handler renders problem+json.

422 is reserved for malformed payloads (FastAPI's own validation); domain errors use the
status that says what went wrong.
"""

from __future__ import annotations

from typing import Any


class CareMatchError(Exception):
    """Base of every domain error (RFC 9457 problem details)."""

    status: int = 400
    type: str = "about:blank"
    title: str = "Bad request"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(CareMatchError):
    status = 404
    type = "/problems/not-found"
    title = "Not found"


class Unauthorized(CareMatchError):
    status = 401
    type = "/problems/unauthorized"
    title = "Authentication required"


class Forbidden(CareMatchError):
    status = 403
    type = "/problems/forbidden"
    title = "Forbidden"


class Conflict(CareMatchError):
    status = 409
    type = "/problems/conflict"
    title = "Conflict"


class InvalidInput(CareMatchError):
    status = 400
    type = "/problems/invalid-input"
    title = "Invalid input"
