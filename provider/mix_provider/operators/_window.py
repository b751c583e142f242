"""The ``created_after`` / ``created_before`` window shared by the list and archive operators."""

from __future__ import annotations

from datetime import datetime, timezone

from mix_provider.errors import MixConfigError


def as_datetime(field: str, value: datetime | str | None) -> datetime | None:
    """Parse an optional datetime argument; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MixConfigError(field, f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise MixConfigError(field, f"must be a datetime or ISO 8601 string, got {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def created_within(created: datetime | None, after: datetime | None, before: datetime | None) -> bool:
    """Whether ``created`` lies in ``[after, before)``; an unknown time matches only an open window.

    The server stores ``createdAt`` to the second, so ``after`` is taken to its second: a session
    created in the same second as ``after`` is inside the window.
    """
    if created is None:
        return after is None and before is None
    return (after is None or created >= after.replace(microsecond=0)) and (before is None or created < before)
