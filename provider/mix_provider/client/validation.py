"""Argument checks shared by the client and the operators; each error names the field and what it accepts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from pydantic import ValidationError

from mix_provider.errors import MixConfigError
from mix_provider.models import BrowserMode, Callback, CallbackType, PromptMode

E = TypeVar("E", bound=Enum)

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


def require_text(field: str, value: object) -> str:
    """Return a non-blank string, or raise naming ``field``."""
    if not isinstance(value, str):
        raise MixConfigError(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise MixConfigError(field, "must not be empty")
    return value


def require_id(field: str, value: object) -> str:
    """Return a session or message id: a non-empty string without slashes or whitespace."""
    text = require_text(field, value)
    if any(ch in text for ch in "/?#") or text != text.strip() or " " in text:
        raise MixConfigError(field, f"{text!r} is not a valid id")
    return text


def optional_int(field: str, value: object, *, minimum: int) -> int | None:
    """Return ``value`` as an int >= ``minimum``, or None when it is None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MixConfigError(field, f"must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise MixConfigError(field, f"must be an integer >= {minimum}, got {value}")
    return value


def check_browser(mode: BrowserMode | str, cdp_url: str | None) -> BrowserMode:
    """Validate the browser mode and, for ``remote-cdp-websocket``, its ``cdp_url``."""
    browser = coerce_enum("browser_mode", BrowserMode, mode)
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
    prompt_mode = None if mode is None else coerce_enum("prompt_mode", PromptMode, mode)
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


def check_callbacks(callbacks: Iterable[Callback | Mapping[str, Any]] | str) -> list[Callback]:
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
