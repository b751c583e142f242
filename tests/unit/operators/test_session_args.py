"""Session operators: every bad argument fails with a clear error before any request; good ones reach the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mix_provider.errors import MixConfigError
from mix_provider.models import BrowserMode, PromptMode
from mix_provider.operators.session import (
    MixCreateSessionOperator,
    MixDeleteSessionOperator,
    MixGetSessionOperator,
    MixListSessionsOperator,
    MixUpdateSessionCallbacksOperator,
)
from support.fakes import FakeTI

Attach = Callable[[Any], Any]
KIB = 1024
BASH = {"type": "bash_script", "toolName": "Bash", "bashCommand": "echo hi"}


def _create(**kwargs: Any) -> MixCreateSessionOperator:
    return MixCreateSessionOperator(task_id="create", **{"title": "t", **kwargs})


def _fails(attach: Attach, recorder: Any, build: Callable[[], Any], field: str) -> str:
    """Build and run an operator; return its MixConfigError text, checking it names ``field`` and sent nothing.

    Literal arguments fail when the operator is built (DAG parse time), before it could run.
    """
    with pytest.raises(MixConfigError) as info:
        attach(build()).execute({"ti": FakeTI()})
    assert info.value.field == field
    assert recorder.requests == []
    return str(info.value)


def test_bad_browser_mode_names_the_field_and_the_accepted_values(attach: Attach, recorder: Any) -> None:
    message = _fails(attach, recorder, lambda: _create(browser_mode="chrome"), "browser_mode")
    assert "'chrome'" in message
    for mode in BrowserMode:
        assert mode.value in message


@pytest.mark.parametrize("cdp_url", [None, "", "http://127.0.0.1:9222", "127.0.0.1:9222"])
def test_remote_cdp_needs_a_websocket_url(attach: Attach, recorder: Any, cdp_url: str | None) -> None:
    message = _fails(attach, recorder, lambda: _create(browser_mode="remote-cdp-websocket", cdp_url=cdp_url), "cdp_url")
    assert "ws://" in message and "wss://" in message


def test_cdp_url_without_remote_mode_is_refused(attach: Attach, recorder: Any) -> None:
    _fails(attach, recorder, lambda: _create(cdp_url="ws://127.0.0.1:9222"), "cdp_url")


@pytest.mark.parametrize("title", ["", "   ", None])
def test_empty_title(attach: Attach, recorder: Any, title: Any) -> None:
    _fails(attach, recorder, lambda: _create(title=title), "title")


BAD_CALLBACKS = [
    pytest.param({"type": "bash_script", "bashCommand": "x"}, "callbacks[0].toolName", id="missing-toolName"),
    pytest.param({"type": "bash_script", "toolName": "Bash"}, "callbacks[0].bash_command", id="missing-bashCommand"),
    pytest.param(
        {"type": "send_message", "toolName": "W", "messageContent": "m", "excludeFromContext": True},
        "callbacks[0].exclude_from_context",
        id="send_message-excluded",
    ),
    pytest.param({"type": "webhook", "toolName": "W"}, "callbacks[0].type", id="unknown-type"),
    pytest.param({"type": "sub_agent", "toolName": "T"}, "callbacks[0].sub_agent_prompt", id="missing-prompt"),
    pytest.param("bash", "callbacks[0]", id="not-a-mapping"),
]


@pytest.mark.parametrize(("callback", "field"), BAD_CALLBACKS)
def test_bad_callback_on_create(attach: Attach, recorder: Any, callback: Any, field: str) -> None:
    _fails(attach, recorder, lambda: _create(callbacks=[callback]), field)


@pytest.mark.parametrize(("callback", "field"), BAD_CALLBACKS)
def test_bad_callback_on_update(attach: Attach, recorder: Any, callback: Any, field: str) -> None:
    _fails(
        attach,
        recorder,
        lambda: MixUpdateSessionCallbacksOperator(task_id="update", session_id="s1", callbacks=[callback]),
        field,
    )


def test_unknown_callback_type_lists_the_accepted_ones(attach: Attach, recorder: Any) -> None:
    message = _fails(
        attach, recorder, lambda: _create(callbacks=[{"type": "webhook", "toolName": "W"}]), "callbacks[0].type"
    )
    assert all(kind in message for kind in ("bash_script", "send_message", "sub_agent"))


@pytest.mark.parametrize(("mode", "limit"), [("append", 50 * KIB), ("replace", 100 * KIB)])
def test_prompt_too_large_for_its_mode(attach: Attach, recorder: Any, mode: str, limit: int) -> None:
    message = _fails(
        attach,
        recorder,
        lambda: _create(prompt_mode=mode, custom_system_prompt="é" * (limit // 2) + "x"),
        "custom_system_prompt",
    )
    assert str(limit) in message and mode in message


@pytest.mark.parametrize(("mode", "size"), [("append", 50 * KIB), ("replace", 100 * KIB), ("replace", 60 * KIB)])
def test_prompt_at_the_limit_is_sent(attach: Attach, recorder: Any, mode: str, size: int) -> None:
    attach(_create(prompt_mode=mode, custom_system_prompt="p" * size)).execute({"ti": FakeTI()})
    [body] = recorder.bodies("POST", "/api/sessions")
    assert body["promptMode"] == mode and len(body["customSystemPrompt"]) == size


def test_bad_prompt_mode(attach: Attach, recorder: Any) -> None:
    message = _fails(attach, recorder, lambda: _create(prompt_mode="prepend", custom_system_prompt="p"), "prompt_mode")
    assert all(mode.value in message for mode in PromptMode)


def test_create_sends_every_field_and_pushes_the_summary(attach: Attach, recorder: Any) -> None:
    ti = FakeTI()
    operator = _create(
        title="full",
        browser_mode=BrowserMode.REMOTE_CDP_WEBSOCKET,
        cdp_url="wss://browser.example:9222/devtools",
        custom_system_prompt="Be brief.",
        prompt_mode=PromptMode.REPLACE,
        callbacks=[BASH, {"type": "send_message", "tool_name": "Write", "message_content": "check"}],
    )
    session_id = attach(operator).execute({"ti": ti})
    assert recorder.bodies("POST", "/api/sessions") == [
        {
            "title": "full",
            "browserMode": "remote-cdp-websocket",
            "cdpUrl": "wss://browser.example:9222/devtools",
            "promptMode": "replace",
            "customSystemPrompt": "Be brief.",
            "callbacks": [BASH, {"type": "send_message", "toolName": "Write", "messageContent": "check"}],
        }
    ]
    assert session_id == ti.pushed["session"]["id"] == "11111111-1111-4111-8111-111111111111"


def test_enum_arguments_render_as_their_values() -> None:
    """Templated fields given enum members must render as the wire value, not ``BrowserMode.X``."""
    operator = _create(browser_mode=BrowserMode.ELECTRON_EMBEDDED_BROWSER, prompt_mode=PromptMode.APPEND)
    operator.render_template_fields({})
    assert (operator.browser_mode, operator.prompt_mode) == ("electron-embedded-browser", "append")
    default = _create()
    default.render_template_fields({})
    assert default.browser_mode == "local-browser-service"


def test_update_with_no_callbacks_clears_them(attach: Attach, recorder: Any) -> None:
    result = attach(MixUpdateSessionCallbacksOperator(task_id="u", session_id="s1", callbacks=[])).execute({})
    assert recorder.bodies("PATCH", "/api/sessions/s1/callbacks") == [{"callbacks": []}]
    assert result["callbacks"] == 0


@pytest.mark.parametrize("session_id", ["", "a/b", " s1", "s1?x"])
@pytest.mark.parametrize("operator_cls", [MixGetSessionOperator, MixDeleteSessionOperator])
def test_bad_session_id(attach: Attach, recorder: Any, operator_cls: Any, session_id: str) -> None:
    _fails(attach, recorder, lambda: operator_cls(task_id="op", session_id=session_id), "session_id")


@pytest.mark.parametrize("field", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["yesterday", 1700000000])
def test_bad_list_dates(attach: Attach, recorder: Any, field: str, value: Any) -> None:
    _fails(attach, recorder, lambda: MixListSessionsOperator(task_id="list", **{field: value}), field)


def test_model_needs_its_provider_and_reaches_the_wire_only_when_set(attach: Attach, recorder: Any) -> None:
    _fails(attach, recorder, lambda: _create(model_id="gemini-3-flash-preview"), "provider")
    templated = _create(model_id="{{ params.model }}", provider="{{ params.provider }}")  # checked once rendered
    assert {"model_id", "provider"} <= set(templated.template_fields)
    attach(_create(model_id="gemini-3-flash-preview", provider="gemini")).execute({"ti": FakeTI()})
    attach(_create(model_id="", provider="")).execute({"ti": FakeTI()})
    with_model, without = recorder.bodies("POST", "/api/sessions")
    assert (with_model["modelId"], with_model["provider"]) == ("gemini-3-flash-preview", "gemini")
    assert "modelId" not in without and "provider" not in without
