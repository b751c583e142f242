"""Argument checks shared by the client and the operators; each error names the field and what it accepts."""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Collection, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from mix_provider.errors import MixConfigError
from mix_provider.models import BrowserMode, Callback, CallbackType, PromptMode

E = TypeVar("E", bound=Enum)
#: A callback as callers give it: the model, or a mapping in snake_case or camelCase.
CallbackLike = Callback | Mapping[str, Any]

#: ``customSystemPrompt`` limits of the server, by prompt mode (bytes of UTF-8).
SYSTEM_PROMPT_LIMITS = {PromptMode.REPLACE: 100 * 1024, PromptMode.APPEND: 50 * 1024}

#: The field a callback type cannot do without.
CALLBACK_REQUIRED_FIELD = {
    CallbackType.SEND_MESSAGE: "message_content",
    CallbackType.BASH_SCRIPT: "bash_command",
    CallbackType.SUB_AGENT: "sub_agent_prompt",
}


def coerce_enum(field: str, enum_cls: type[E], value: E | str) -> E:
    """Return ``value`` as a member of ``enum_cls``, or raise naming the accepted values."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        accepted = ", ".join(str(member.value) for member in enum_cls)
        raise MixConfigError(field, f"{value!r} is not one of: {accepted}") from None


def one_of(field: str, value: object, accepted: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``accepted`` (strings), or raise naming them."""
    if value not in accepted:
        raise MixConfigError(field, f"{value!r} is not one of: {', '.join(accepted)}")
    return str(value)


def require_text(field: str, value: object) -> str:
    """Return a non-blank string, or raise naming ``field``."""
    if not isinstance(value, str):
        raise MixConfigError(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise MixConfigError(field, "must not be empty")
    return value


def optional_text(field: str, value: object) -> str | None:
    """Return ``value`` when it is a string (possibly empty) or None; raise naming ``field`` otherwise."""
    if value is None or isinstance(value, str):
        return value
    raise MixConfigError(field, f"must be a string or None, got {type(value).__name__} {value!r}")


def require_bool(field: str, value: object) -> bool:
    """Return ``value`` when it is a bool (``0``, ``"yes"`` and friends are refused: they hide typos)."""
    if not isinstance(value, bool):
        raise MixConfigError(field, f"must be true or false, got {value!r}")
    return value


def require_id(field: str, value: object) -> str:
    """Return a session or message id: one URL path segment (no ``/?#\\``, whitespace, ``.`` or ``..``)."""
    text = require_text(field, value)
    if text in (".", "..") or any(ch in text for ch in "/?#\\") or any(ch.isspace() for ch in text):
        raise MixConfigError(
            field, f"{text!r} is not a valid id: one path segment, not '.' or '..', without / ? # \\ or spaces"
        )
    if not text.isprintable():
        raise MixConfigError(field, f"{text!r} is not a valid id: it holds control characters")
    return text


def require_ids(field: str, value: object) -> list[str]:
    """Return a list of ids; a single string is refused (it would be read as a list of letters)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise MixConfigError(field, f"must be a list of session ids, got {type(value).__name__}")
    return [require_id(field, item) for item in value]


def positive_number(field: str, value: object, *, unit: str = "seconds") -> float:
    """Return ``value`` as a finite float > 0 (bools and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise MixConfigError(field, f"must be a positive number of {unit}, got {value!r}")
    return float(value)


def choices(field: str, value: object, accepted: Collection[str]) -> frozenset[str]:
    """Return a set of strings from ``accepted``, given as a list/tuple/set of strings.

    A single string is refused (``"error"`` would become the letters ``e``, ``r``, ``o``) and so is
    any unknown value (a typo would never match).
    """
    listing = ", ".join(sorted(accepted))
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise MixConfigError(field, f"must be a list of values from: {listing}; got {value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str) or item not in accepted:
            raise MixConfigError(field, f"{item!r} is not one of: {listing}")
    return frozenset(items)


def known_keys(field: str, keys: Iterable[str], accepted: Collection[str]) -> None:
    """Refuse any key not in ``accepted`` (a typo such as ``timout`` would be silently ignored)."""
    for key in keys:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), list(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise MixConfigError(f"{field}.{key}", f"is not a known key{hint}; accepted: {', '.join(sorted(accepted))}")


def check_verify_ssl(field: str, value: object) -> bool | str:
    """Return ``value`` when it is a bool or the path of an existing CA bundle file or directory."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value:
        raise MixConfigError(field, f"must be true, false or a CA bundle path, got {value!r}")
    if not os.path.exists(value):
        raise MixConfigError(
            field, f"must be true, false or the path of a CA bundle; {value!r} is neither (no such file)"
        )
    return value


def optional_int(field: str, value: object, *, minimum: int) -> int | None:
    """Return ``value`` as an int >= ``minimum``, or None when it is None."""
    return None if value is None else require_int(field, value, minimum=minimum)


def require_int(field: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int >= ``minimum`` (bools, floats and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MixConfigError(field, f"must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise MixConfigError(field, f"must be an integer >= {minimum}, got {value}")
    return value


def optional_enum(field: str, enum: type[E], value: object) -> E | None:
    """``value`` as a member of ``enum``, or None when it is None (see :func:`coerce_enum`)."""
    return None if value is None else coerce_enum(field, enum, cast(Any, value))


def check_browser(mode: BrowserMode | str, cdp_url: str | None) -> BrowserMode:
    """Validate the browser mode and, for ``remote-cdp-websocket``, its ``cdp_url``."""
    browser = coerce_enum("browser_mode", BrowserMode, mode)
    cdp_url = optional_text("cdp_url", cdp_url)
    if browser is BrowserMode.REMOTE_CDP_WEBSOCKET:
        if not cdp_url or not cdp_url.startswith(("ws://", "wss://")):
            raise MixConfigError("cdp_url", "is required with remote-cdp-websocket and must start ws:// or wss://")
    elif cdp_url:
        raise MixConfigError("cdp_url", f"is only used with remote-cdp-websocket, not {browser.value}")
    return browser


def check_system_prompt(mode: PromptMode | str | None, prompt: str | None) -> PromptMode | None:
    """Validate the prompt mode and the size limit of the custom system prompt it implies.

    A custom prompt needs ``append`` or ``replace``: the server silently ignores it otherwise.
    """
    prompt_mode = optional_enum("prompt_mode", PromptMode, mode)
    prompt = optional_text("custom_system_prompt", prompt)
    if prompt and prompt_mode in (None, PromptMode.DEFAULT):
        raise MixConfigError(
            "prompt_mode",
            f"is {getattr(mode, 'value', mode)!r}, in which the server ignores custom_system_prompt; "
            "use append (prompt <= 50 KiB) or replace (<= 100 KiB)",
        )
    if prompt_mode is None:
        return None
    limit = SYSTEM_PROMPT_LIMITS.get(prompt_mode)
    if limit is not None and prompt is not None and len(prompt.encode()) > limit:
        raise MixConfigError(
            "custom_system_prompt",
            f"is {len(prompt.encode())} bytes; at most {limit} bytes in prompt_mode {prompt_mode.value}",
        )
    return prompt_mode


#: Keys a callback mapping may have: the model's field names and their camelCase wire aliases.
CALLBACK_KEYS = frozenset(
    name for key, info in Callback.model_fields.items() for name in (key, info.alias) if name is not None
)


def check_callbacks(callbacks: Iterable[CallbackLike] | str) -> list[Callback]:
    """Parse callbacks (models or dicts in snake_case or camelCase, or a JSON list) and check each one."""
    if isinstance(callbacks, str):
        try:
            callbacks = json.loads(callbacks)
        except ValueError:
            raise MixConfigError("callbacks", "is a string but not a JSON list of callbacks") from None
    if isinstance(callbacks, Mapping) or not isinstance(callbacks, Iterable):
        raise MixConfigError("callbacks", f"must be a list of callbacks, got {type(callbacks).__name__}")
    parsed = []
    for index, item in enumerate(callbacks):
        field = f"callbacks[{index}]"
        if not isinstance(item, (Callback, Mapping)):
            raise MixConfigError(field, f"must be a mapping with type and tool_name, got {type(item).__name__}")
        if isinstance(item, Mapping):
            known_keys(field, item.keys(), CALLBACK_KEYS)
        if isinstance(item, Mapping) and "type" in item:
            coerce_enum(f"{field}.type", CallbackType, item["type"])
        try:
            callback = item if isinstance(item, Callback) else Callback.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise MixConfigError(f"{field}.{where}", first["msg"]) from None
        required = CALLBACK_REQUIRED_FIELD[callback.type]
        if not getattr(callback, required):
            raise MixConfigError(f"{field}.{required}", f"is required for a {callback.type.value} callback")
        if callback.type is CallbackType.SEND_MESSAGE and callback.exclude_from_context:
            raise MixConfigError(f"{field}.exclude_from_context", "must not be true for send_message")
        parsed.append(callback)
    return parsed


def json_object(field_name: str, value: object, *, example: str = '{"key": "value"}') -> dict[str, Any]:
    """``value`` as a dict: a mapping, a JSON object string, or None/"" (empty); ``example`` shows the shape."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MixConfigError(field_name, f"is not valid JSON; expected an object, e.g. {example}") from None
    if not isinstance(value, Mapping):
        raise MixConfigError(field_name, f"must be a JSON object, got {type(value).__name__}")
    return dict(value)
