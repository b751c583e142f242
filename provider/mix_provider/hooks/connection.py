"""Reading a ``mix`` Airflow connection into a :class:`~mix_provider.client.ClientConfig`.

Pure functions on plain values, so the sync hook, the async hook and the tests share one parser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client import ClientConfig, RetryPolicy, build_base_url
from mix_provider.client.validation import check_verify_ssl, known_keys
from mix_provider.errors import MixConfigError

DEFAULT_TIMEOUT = 30.0
#: The keys of ``extra`` the hook reads; any other is a typo (it would be silently ignored).
EXTRA_KEYS = frozenset({"timeout", "max_retries", "retry_max_wait", "verify_ssl", "headers"})
#: Prefix of the same keys as older Airflow connection forms store them.
UI_PREFIX = "extra__mix__"


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow connection the Mix hook reads."""

    host: str | None
    schema: str | None = None
    port: int | str | None = None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] | str | None = field(default=None, repr=False)  # headers may hold secrets


@dataclass(frozen=True)
class HookOverrides:
    """Per-hook settings that win over the connection's ``extra``."""

    timeout: float | None = None
    max_retries: int | None = None
    retry_max_wait: float | None = None


def config_from_connection(fields: ConnectionFields, overrides: HookOverrides | None = None) -> ClientConfig:
    """Build the client configuration; every problem names its connection field.

    :raises MixConfigError: on a missing host, a bad scheme or port, or a bad ``extra`` value.
    """
    over = overrides or HookOverrides()
    extra = _extra_dict(fields.extra)
    extra = {key.removeprefix(UI_PREFIX): value for key, value in extra.items()}
    known_keys("extra", extra, EXTRA_KEYS)
    timeout = _number("extra.timeout", over.timeout, extra.get("timeout"), DEFAULT_TIMEOUT, minimum=0.001)
    max_retries = _number("extra.max_retries", over.max_retries, extra.get("max_retries"), 5, minimum=0)
    if max_retries != int(max_retries):
        raise MixConfigError("extra.max_retries", f"must be a whole number, got {max_retries:g}")
    retry = RetryPolicy(
        max_retries=int(max_retries),
        max_wait=_number("extra.retry_max_wait", over.retry_max_wait, extra.get("retry_max_wait"), 30.0, minimum=0),
    )
    return ClientConfig(
        base_url=build_base_url(fields.host, scheme=fields.schema or None, port=fields.port),
        token=fields.password or None,
        headers=_headers(extra.get("headers")),
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        verify_ssl=_verify(extra.get("verify_ssl")),
        retry=retry,
    )


def _extra_dict(extra: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            reason = f'{exc.msg} at char {exc.pos}; expected an object, e.g. {{"timeout": 30}}'
            raise MixConfigError("extra", f"is not valid JSON ({reason})") from None
    if not isinstance(extra, Mapping):
        raise MixConfigError("extra", f"must be a JSON object, got {type(extra).__name__}")
    return dict(extra)


def _number(field: str, override: float | None, value: Any, default: float, *, minimum: float) -> float:
    chosen = override if override is not None else value
    if chosen is None or chosen == "":
        return default
    try:
        number = float(chosen)
    except (TypeError, ValueError):
        raise MixConfigError(field, f"must be a number >= {minimum:g}, got {chosen!r}") from None
    if isinstance(chosen, bool) or number < minimum or not math.isfinite(number):
        raise MixConfigError(field, f"must be a number >= {minimum:g}, got {chosen!r}")
    return number


def _headers(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MixConfigError("extra.headers", 'must be a JSON object of strings, e.g. {"X-Key": "..."}') from None
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise MixConfigError("extra.headers", 'must be a JSON object of strings, e.g. {"X-Key": "..."}')
    return {str(k): v for k, v in value.items()}


def _verify(value: Any) -> bool | str:
    if value is None or value == "":
        return True  # unset (the UI form stores null): verify
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    return check_verify_ssl("extra.verify_ssl", value)  # a CA bundle path
