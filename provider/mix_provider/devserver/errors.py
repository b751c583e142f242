"""Domain errors of the devserver, each carrying its wire status, type and message.

The state layer raises :class:`ApiError`; the routing layer serializes it once into the
Mix error envelope ``{"error": {"code", "message", "type"}}``.
"""

from __future__ import annotations

from typing import Literal

ErrorType = Literal["bad_request", "not_found", "internal_error", "unauthorized", "validation_error"]


class ApiError(Exception):
    """An error answered with the Mix error envelope.

    :param status: HTTP status code.
    :param type_: one of the envelope's error types.
    :param message: human-readable message, worded like the real server's.
    """

    def __init__(self, status: int, type_: ErrorType, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message

    def envelope(self) -> dict[str, object]:
        """Return the JSON error envelope for this error."""
        return {"error": {"code": self.status, "message": self.message, "type": self.type}}


def session_not_found(session_id: str) -> ApiError:
    """Return the 404 of an unknown session id."""
    return ApiError(404, "not_found", f"Session with ID '{session_id}' not found")


def field_error(field: str, detail: str) -> ApiError:
    """Return a 400 ``validation_error`` about one request field."""
    return ApiError(400, "validation_error", f"Validation error for field '{field}': {detail}")


def bad_body(detail: str) -> ApiError:
    """Return a 400 ``validation_error`` for a body that cannot be decoded."""
    return ApiError(400, "validation_error", f"Invalid request body: {detail}")


def internal(operation: str, err: object) -> ApiError:
    """Return a 500 ``internal_error`` worded like the real server's."""
    return ApiError(500, "internal_error", f"Internal error during {operation}: {err}")
