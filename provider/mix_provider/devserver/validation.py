"""Strict decoding and validation of request bodies, worded like the real (Go) server.

Unknown fields are rejected, ``null`` counts as absent, and JSON types are checked the
way Go's ``encoding/json`` does, before the per-endpoint rules run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mix_provider.devserver.errors import ApiError, bad_body, field_error

_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "bool": (bool,),
    "int": (int,),
    "array": (list,),
    "object": (dict,),
}
_CALLBACK_FIELDS = {
    "type": "string",
    "toolName": "string",
    "name": "string",
    "bashCommand": "string",
    "bashTimeout": "int",
    "excludeFromContext": "bool",
    "includeFullHistory": "bool",
    "messageContent": "string",
    "subAgentPrompt": "string",
    "subAgentType": "string",
}
_CREATE_FIELDS = {
    "title": "string",
    "browserMode": "string",
    "cdpUrl": "string",
    "customSystemPrompt": "string",
    "promptMode": "string",
    "sessionType": "string",
    "subagentType": "string",
    "callbacks": "array",
    "modelId": "string",
    "provider": "string",
}
_MODEL_FIELDS = ("modelId", "provider")
BROWSER_MODES = ("electron-embedded-browser", "local-browser-service", "remote-cdp-websocket")
DEFAULT_BROWSER_MODE = "local-browser-service"
"""What an omitted ``browserMode`` becomes (``browser.DefaultMode``; the real integration tests
create sessions with only a ``title`` and get 201)."""
_PROMPT_LIMITS = {"append": 50 * 1024, "replace": 100 * 1024}
_THINKING_LEVELS = ("off", "basic", "medium", "maximum")


def _go_kind(value: object) -> str:
    """Return the JSON kind name Go's decoder uses in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "value")


def decode_object(
    raw: bytes | object, fields: Mapping[str, str], struct: str, bad: Callable[[str], ApiError] = bad_body
) -> dict[str, Any]:
    """Decode a JSON object with exactly the given ``fields`` (name -> kind).

    :param raw: the request body, or an already decoded JSON value.
    :param struct: the Go struct name quoted in type errors.
    :raises ApiError: 400 ``validation_error`` on bad JSON, unknown fields or wrong types.
    """
    value = raw
    if isinstance(raw, bytes):
        try:
            value = json.loads(raw or b"null")
        except ValueError as exc:
            raise bad(f"invalid JSON: {exc}") from exc
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise bad(f"json: cannot unmarshal {_go_kind(value)} into Go value of type {struct}")
    for key, item in value.items():
        if key not in fields:
            raise bad(f'json: unknown field "{key}"')
        kind = fields[key]
        is_bool_as_int = kind == "int" and isinstance(item, bool)
        if item is not None and (not isinstance(item, _KINDS[kind]) or is_bool_as_int):
            detail = _go_kind(item) if not isinstance(item, float) else f"number {item}"
            raise bad(f"json: cannot unmarshal {detail} into Go struct field {struct}.{key} of type {kind}")
    return {key: item for key, item in value.items() if item is not None}


def validate_callbacks(items: list[Any], field: str = "callbacks") -> list[dict[str, Any]]:
    """Decode and check a list of callbacks.

    :raises ApiError: 400 on the first invalid callback.
    """
    callbacks = [decode_object(item, _CALLBACK_FIELDS, "Callback") for item in items]
    for index, callback in enumerate(callbacks):
        _check_callback(callback, f"{field}[{index}]")
    return callbacks


def _check_callback(callback: dict[str, Any], where: str) -> None:
    """Apply the per-type rules of one callback."""
    kind = callback.get("type", "")
    if kind not in ("bash_script", "sub_agent", "send_message"):
        raise field_error(f"{where}.type", "type must be 'bash_script', 'sub_agent', or 'send_message'")
    if not callback.get("toolName"):
        raise field_error(f"{where}.toolName", "toolName is required")
    required = {"bash_script": "bashCommand", "sub_agent": "subAgentPrompt", "send_message": "messageContent"}[kind]
    if not callback.get(required):
        raise field_error(f"{where}.{required}", f"{required} is required for {kind} callbacks")
    if kind == "send_message" and callback.get("excludeFromContext"):
        raise field_error(f"{where}.excludeFromContext", "excludeFromContext is not allowed for send_message callbacks")


def validate_create(raw: bytes, *, model_fields: bool = True) -> dict[str, Any]:
    """Decode and check a create-session body; return its fields with defaults applied.

    :param model_fields: accept ``modelId`` and ``provider`` (the newer server); without them they are
        unknown fields, refused by the strict decoder (``rest_sessions.go`` @ 95264f66
        ``CreateSessionRequest`` has neither; ``rest_common.go`` ``parseJSONBody`` disallows unknown fields).
    :raises ApiError: 400 ``validation_error`` like the real server.
    """
    fields = _CREATE_FIELDS if model_fields else {k: v for k, v in _CREATE_FIELDS.items() if k not in _MODEL_FIELDS}
    body = decode_object(raw, fields, "CreateSessionRequest", _body_error)
    if not body.get("title"):
        raise field_error("title", "title is required")
    if body.pop("subagentType", ""):
        raise field_error(
            "subagentType",
            "subagentType cannot be set for API-created sessions. "
            "Subagent sessions are created programmatically by the task delegation system.",
        )
    if body.setdefault("sessionType", "main") not in ("", "main"):
        raise field_error(
            "sessionType", "API can only create main sessions. Subagent sessions are created automatically."
        )
    _check_browser(body)
    _check_prompt(body)
    body["callbacks"] = validate_callbacks(body.get("callbacks", []))
    body["sessionType"] = "main"
    return body


def _check_browser(body: dict[str, Any]) -> None:
    """Check ``browserMode`` (empty or omitted means ``local-browser-service``) and ``cdpUrl``."""
    mode = body["browserMode"] = body.get("browserMode") or DEFAULT_BROWSER_MODE
    if mode not in BROWSER_MODES:
        raise field_error("browserMode", "browserMode must be one of: " + ", ".join(BROWSER_MODES))
    if mode != "remote-cdp-websocket":
        body.pop("cdpUrl", None)
    elif not body.get("cdpUrl", "").startswith(("ws://", "wss://")):
        raise field_error(
            "cdpUrl", "cdpUrl must start with 'ws://' or 'wss://' when browserMode is 'remote-cdp-websocket'"
        )


def _check_prompt(body: dict[str, Any]) -> None:
    """Check ``promptMode`` and the size of ``customSystemPrompt``."""
    mode = body.get("promptMode") or "default"
    if mode not in ("default", "append", "replace"):
        raise field_error("promptMode", "promptMode must be 'default', 'append', or 'replace'")
    body["promptMode"] = mode
    if mode == "default":
        body.pop("customSystemPrompt", None)
        return
    size = len(body.get("customSystemPrompt", "").encode())
    limit = _PROMPT_LIMITS[mode]
    if size > limit:
        raise field_error(
            "customSystemPrompt",
            f"Custom prompt size ({size // 1024}KB) exceeds {mode} mode limit of {limit // 1024}KB",
        )


def validate_callbacks_body(raw: bytes) -> list[dict[str, Any]]:
    """Decode and check a PATCH callbacks body; return the new callback list."""
    body = decode_object(raw, {"callbacks": "array"}, "UpdateCallbacksRequest")
    if "callbacks" not in body:
        raise field_error("callbacks", "callbacks is required")
    return validate_callbacks(body["callbacks"])


def _body_error(detail: str) -> ApiError:
    """Return the 400 of an undecodable body in the create, message and rewind handlers
    (``sendValidationError(w, "body", err.Error())``)."""
    return field_error("body", detail)


def validate_message(raw: bytes) -> dict[str, Any]:
    """Decode and check a send-message body."""
    fields = {"text": "string", "plan_mode": "bool", "thinking_level": "string", "max_steps": "int"}
    body = decode_object(raw, fields, "SendMessageRequest", _body_error)
    if not body.get("text"):
        raise field_error("content", "message content is required")
    if body.get("thinking_level", "off") not in _THINKING_LEVELS:
        raise field_error("thinking_level", "must be one of: off, basic, medium, maximum")
    if body.get("max_steps", 1) < 1:
        raise field_error("max_steps", "max_steps must be at least 1")
    return body


def validate_rewind(raw: bytes) -> tuple[str, bool]:
    """Decode and check a rewind body; return ``(messageId, cleanupMedia)``.

    An omitted ``cleanupMedia`` is false, like the real server (the spec says true).
    """
    body = decode_object(raw, {"messageId": "string", "cleanupMedia": "bool"}, "RewindSessionRequest", _body_error)
    if not body.get("messageId"):
        raise field_error("messageId", "message ID is required")
    return body["messageId"], bool(body.get("cleanupMedia", False))


def validate_notification_response(raw: bytes) -> dict[str, str]:
    """Decode a notification response: any JSON object of strings (``HandleNotificationRespond``
    decodes into a ``map[string]string`` and checks neither ``type`` nor ``value``; ``null``
    values count as empty strings).

    :raises ApiError: 400 ``Validation error for field 'body': ...`` for anything else.
    """
    try:
        value = json.loads(raw or b"null")
    except ValueError as exc:
        raise _body_error(f"invalid JSON: {exc}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _body_error(f"json: cannot unmarshal {_go_kind(value)} into Go value of type map[string]string")
    for item in value.values():
        if item is not None and not isinstance(item, str):
            raise _body_error(f"json: cannot unmarshal {_go_kind(item)} into Go value of type string")
    return {key: item or "" for key, item in value.items()}
