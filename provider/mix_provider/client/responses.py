"""Turning an HTTP answer into a result or a typed error; pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pydantic import ValidationError

from mix_provider.client.operations import Call, FromHeaders
from mix_provider.errors import MixAPIError, MixMalformedResponseError, error_class_for_status

T = TypeVar("T")

#: Shorter secrets are not redacted (as Airflow's masker): hiding "a" would garble every message.
MIN_REDACTED_LENGTH = 5


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def api_error(
    method: str, path: str, status: int, headers: Mapping[str, str], body: bytes, secrets: Iterable[str] = ()
) -> MixAPIError:
    """Build the typed error for an error response, reading the ``{"error": {...}}`` envelope if any.

    :param secrets: values to hide from the message (a proxy may echo the request's headers).
    """
    error_type: str | None = None
    message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    try:
        envelope = json.loads(body)["error"]
        error_type = envelope.get("type")
        message = str(envelope.get("message", message))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    message = redact(message, secrets)[:500]
    cls = error_class_for_status(status)
    return cls(status, error_type, message, method, path, retry_after=parse_retry_after(headers.get("retry-after")))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of at least :data:`MIN_REDACTED_LENGTH` characters replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= MIN_REDACTED_LENGTH:
            text = text.replace(secret, "***")
    return text


def parse_answer(call: Call[T], status: int, headers: Mapping[str, str], body: bytes) -> T:
    """Parse a success answer (its body, or its headers for a :class:`FromHeaders` call), or raise
    :class:`MixMalformedResponseError`."""
    try:
        if isinstance(call.parse, FromHeaders):
            return call.parse.read(headers)
        return call.parse(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise MixMalformedResponseError(call.method, call.path, status, f"{where}: {first['msg']}") from None
    except ValueError as exc:
        raise MixMalformedResponseError(call.method, call.path, status, str(exc)[:200]) from None
