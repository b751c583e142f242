"""Every bad input is a clear error: it names the field and what is accepted, before any request.

Fills what the unit tests do not cover: connections read by a real hook, values that turn bad only once
their templates render, a custom prompt the server would silently ignore; and, against the local server,
unknown session and message ids (a typed 404 naming the id, never retried).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from mix_provider.archive import read_summary
from mix_provider.client import TurnKey
from mix_provider.errors import MixConfigError, MixNotFoundError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import BrowserMode, PromptMode, ThinkingLevel
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.rewind import MixRewindSessionOperator
from mix_provider.operators.session import (
    MixCreateSessionOperator,
    MixDeleteSessionOperator,
    MixGetSessionOperator,
    MixListSessionsOperator,
    MixUpdateSessionCallbacksOperator,
)
from mix_provider.sensors.session import MixSessionIdleSensor
from support.fakes import FakeTI, Recorder, define_conn, refuse

CONN = "mix_bad_input"
PARAMS = {
    "blank": "  ",
    "browser": "chrome",
    "mode": "prepend",
    "level": "extreme",
    "compression": "bz2",
    "when": "last tuesday",
    "ids": ["s1", "s2"],
    "callbacks": json.dumps([{"type": "bash_script", "toolName": "Bash"}]),
    "steps": "abc",
}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """``mix_bad_input`` points at an address nothing serves; requests go to the recorder instead."""
    define_conn(monkeypatch, CONN, host="http://mix.invalid")
    return Recorder(refuse)


BAD_CONNECTIONS = [
    pytest.param({}, "host", ["is required", "http://127.0.0.1:8088"], id="no-host"),
    pytest.param({"host": "ftp://mix.test"}, "host", ["'ftp'", "http, https"], id="bad-scheme-in-host"),
    pytest.param({"host": "mix.test", "schema": "gopher"}, "schema", ["'gopher'", "http, https"], id="bad-schema"),
    pytest.param({"host": "mix.test:abc"}, "host", ["'abc'", "1..65535"], id="non-numeric-port"),
    pytest.param({"host": "mix.test", "port": 70000}, "port", ["70000", "1..65535"], id="port-out-of-range"),
    pytest.param({"host": "mix.test", "extra": '{"timeout": 5,'}, "extra", ["not valid JSON", "object"], id="bad-json"),
    pytest.param({"host": "mix.test", "extra": "[1]"}, "extra", ["JSON object", "list"], id="extra-not-object"),
    pytest.param({"host": "mix.test", "extra": {"timeout": "soon"}}, "extra.timeout", [">= 0.1"], id="timeout"),
    pytest.param(
        {"host": "mix.test", "extra": {"verify_ssl": 2}}, "extra.verify_ssl", ["true, false", "CA"], id="verify_ssl"
    ),
]


@pytest.mark.parametrize(("fields", "field", "says"), BAD_CONNECTIONS)
def test_bad_connection(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, fields: dict[str, Any], field: str, says: list[str]
) -> None:
    """A real Airflow connection (``AIRFLOW_CONN_*``) read by a real hook, sync and async."""
    define_conn(monkeypatch, "mix_bad_conn", **fields)
    hook = MixHook("mix_bad_conn", transport=recorder.transport())
    with pytest.raises(MixConfigError) as sync_error:
        hook.health()
    with pytest.raises(MixConfigError) as async_error:
        asyncio.run(MixHook("mix_bad_conn").aget_session("s1"))
    for info in (sync_error, async_error):
        assert info.value.field == field
        assert str(info.value).startswith(f"{field}: ")
        assert all(text in str(info.value) for text in says), str(info.value)
    assert recorder.requests == []


Build = Callable[[], Any]
CREATE = MixCreateSessionOperator
BAD_ARGUMENTS: list[Any] = [
    pytest.param(
        lambda: CREATE(task_id="t", title="t", browser_mode="{{ params.browser }}"),
        "browser_mode",
        ["'chrome'", *(m.value for m in BrowserMode)],
        id="browser_mode-rendered",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", prompt_mode="{{ params.mode }}", custom_system_prompt="Be brief."),
        "prompt_mode",
        ["'prepend'", *(m.value for m in PromptMode)],
        id="prompt_mode-rendered",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", custom_system_prompt="Be brief."),
        "prompt_mode",
        ["None", "ignores custom_system_prompt", "append", "replace", "50 KiB", "100 KiB"],
        id="prompt-without-mode",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", prompt_mode="default", custom_system_prompt="Be brief."),
        "prompt_mode",
        ["'default'", "ignores custom_system_prompt", "append", "replace"],
        id="prompt-in-default-mode",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="{{ params.blank }}"), "title", ["must not be empty"], id="title-rendered"
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", callbacks="{{ params.callbacks }}"),  # type: ignore[arg-type]
        "callbacks[0].bash_command",
        ["is required for a bash_script callback"],
        id="callbacks-rendered-json",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", callbacks="{{ params.browser }}"),  # type: ignore[arg-type]
        "callbacks",
        ["not a JSON list of callbacks"],
        id="callbacks-rendered-not-json",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", thinking_level="{{ params.level }}"),
        "thinking_level",
        ["'extreme'", *(m.value for m in ThinkingLevel)],
        id="thinking_level-rendered",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="{{ params.blank }}", text="hi"),
        "session_id",
        ["must not be empty"],
        id="session_id-rendered",
    ),
    pytest.param(
        # max_steps is a template field (issue 26): checked once rendered, naming the rendered value.
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", max_steps="{{ params.steps }}"),
        "max_steps",
        ["integer >= 1", "'abc'"],
        id="max_steps-templated",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", max_cost_usd="{{ params.steps }}"),
        "max_cost_usd",
        ["positive number of US dollars", "'abc'"],
        id="max_cost_usd-templated",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", timeout="{{ params.blank }}"),
        "timeout",
        ["positive number of seconds", "None"],
        id="timeout-templated",
    ),
    pytest.param(
        lambda: MixExportSessionOperator(task_id="t", session_id="s1", compression="{{ params.compression }}"),
        "compression",
        ["'bz2'", "None, gzip"],
        id="compression-rendered",
    ),
    pytest.param(
        lambda: MixArchiveSessionsOperator(task_id="t", base_path="file:///tmp/a", session_ids="{{ params.ids }}"),
        "session_ids",
        ["must be a list of session ids", "str"],
        id="session_ids-rendered-as-text",
    ),
    pytest.param(
        lambda: MixListSessionsOperator(task_id="t", created_after="{{ params.when }}"),
        "created_after",
        ["'last tuesday'", "ISO 8601"],
        id="created_after-rendered",
    ),
    pytest.param(
        lambda: MixRewindSessionOperator(task_id="t", session_id="s1", message_id="{{ params.blank }}"),
        "message_id",
        ["must not be empty"],
        id="message_id-rendered",
    ),
]


@pytest.mark.parametrize(("build", "field", "says"), BAD_ARGUMENTS)
def test_bad_argument(recorder: Recorder, build: Build, field: str, says: list[str]) -> None:
    """Built (checked at parse time), rendered with ``params``, executed: one clear error, no request."""
    context = {"params": PARAMS, "ti": FakeTI(frozen=True)}
    with pytest.raises(MixConfigError) as info:
        operator = build()
        operator.mix_conn_id = CONN
        operator.render_template_fields(context)
        operator.__dict__["hook"] = MixHook(CONN, max_retries=0, transport=recorder.transport())
        operator.execute(context)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert all(text in str(info.value) for text in says), str(info.value)
    assert recorder.requests == []


SID = "00000000-0000-4000-8000-000000000000"


def _async(call: Callable[[MixHook], Coroutine[Any, Any, Any]]) -> Callable[[MixHook], Any]:
    """Run an async hook method on a loop of its own, closing the async client on that loop."""

    def run(hook: MixHook) -> Any:
        async def go() -> Any:
            try:
                return await call(hook)
            finally:
                await hook.aclose()

        return asyncio.run(go())

    return run


UNKNOWN_SESSION: list[Any] = [
    pytest.param("GET", "", lambda h: h.get_session(SID), id="get_session"),
    pytest.param("GET", "", _async(lambda h: h.aget_session(SID)), id="aget_session"),
    pytest.param("DELETE", "", lambda h: h.delete_session(SID), id="delete_session"),
    pytest.param("GET", "/export", lambda h: h.export_session(SID), id="export_session"),
    pytest.param("GET", "/export", _async(lambda h: h.aexport_session(SID)), id="aexport_session"),
    pytest.param("GET", "/export", lambda h: read_summary(h, SID), id="consume_export"),
    pytest.param("PATCH", "/callbacks", lambda h: h.update_callbacks(SID, []), id="update_callbacks"),
    pytest.param("POST", "/rewind", lambda h: h.rewind_session(SID, "m1"), id="rewind_session"),
    pytest.param("POST", "/messages", lambda h: h.send_message(SID, "hi", turn=TurnKey.of(0, "hi")), id="send"),
    pytest.param("GET", "/stream", lambda h: h.send_and_wait(SID, "hi", turn=TurnKey.of(0, "hi")), id="send_and_wait"),
]


@pytest.fixture
def hook(mix_server: Any) -> Iterator[MixHook]:
    """A hook on the shared local server (``mix_default``, which retries transient failures)."""
    with MixHook() as mix_hook:
        yield mix_hook


@pytest.mark.integration
@pytest.mark.parametrize(("method", "suffix", "call"), UNKNOWN_SESSION)
def test_unknown_session_is_named(
    mix_server: Any, hook: MixHook, method: str, suffix: str, call: Callable[[MixHook], Any]
) -> None:
    path = "/stream" if suffix == "/stream" else re.escape(f"/api/sessions/{SID}{suffix}")
    before = mix_server.request_count(method, path)
    with pytest.raises(MixNotFoundError) as info:
        call(hook)
    assert info.value.status == 404 and info.value.error_type == "not_found"
    assert f"Session with ID '{SID}' not found" in str(info.value)
    assert mix_server.request_count(method, path) - before == 1, "a 404 is final: never retried"


@pytest.mark.integration
def test_rewind_to_an_unknown_message_is_named(mix_server: Any, hook: MixHook) -> None:
    session = mix_server.seed_large_session(title=f"rewind {uuid.uuid4().hex}", messages=2, message_bytes=16)
    path = f"/api/sessions/{session['id']}/rewind"
    before = mix_server.request_count("POST", re.escape(path))
    with pytest.raises(MixNotFoundError) as info:
        hook.rewind_session(session["id"], "no-such-message")
    assert str(info.value) == f"POST {path} -> 404 not_found: Message with ID 'no-such-message' not found"
    assert mix_server.request_count("POST", re.escape(path)) - before == 1
    assert len(hook.export_session(session["id"]).messages) == 2, "nothing was rewound"


# -- issue 15: each case fails before any request, naming the argument and what it accepts ---------------------

TOKEN, HEADER_VALUE = "tok-secret-1234", "hdr-secret-5678"


@pytest.fixture
def parse_hook(recorder: Recorder) -> MixHook:
    """A hook on ``mix_bad_input`` whose requests go to the recorder."""
    return MixHook(CONN, max_retries=0, transport=recorder.transport())


def _named(info: pytest.ExceptionInfo[MixConfigError], field: str, says: list[str]) -> None:
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field}: ")
    assert all(text in str(info.value) for text in says), str(info.value)


#: Built with literal arguments: refused when the DAG is parsed (the operator's ``__init__``).
AT_PARSE_TIME: list[Any] = [
    # 10. create-session arguments, like send/rewind/export/archive ones
    pytest.param(lambda: CREATE(task_id="t", title="  "), "title", ["must not be empty"], id="create-title"),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", browser_mode="chrome"),
        "browser_mode",
        ["'chrome'", *(m.value for m in BrowserMode)],
        id="create-browser_mode",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", cdp_url="ws://127.0.0.1:9222"),
        "cdp_url",
        ["only used with remote-cdp-websocket"],
        id="create-cdp_url",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", prompt_mode="prepend", custom_system_prompt="Be brief."),
        "prompt_mode",
        ["'prepend'", *(m.value for m in PromptMode)],
        id="create-prompt_mode",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", custom_system_prompt="Be brief."),
        "prompt_mode",
        ["ignores custom_system_prompt", "append", "replace"],
        id="create-prompt-without-mode",
    ),
    # the same classes elsewhere: non-string texts, one half of a pair templated, other operators' rules
    pytest.param(
        lambda: CREATE(task_id="t", title="t", prompt_mode="append", custom_system_prompt=5),
        "custom_system_prompt",
        ["must be a string or None", "int"],
        id="create-prompt-not-text",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", browser_mode="remote-cdp-websocket", cdp_url=5),
        "cdp_url",
        ["must be a string or None"],
        id="create-cdp_url-not-text",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", browser_mode="chrome", cdp_url="{{ params.url }}"),
        "browser_mode",
        ["'chrome'", "remote-cdp-websocket"],
        id="create-browser_mode-with-templated-cdp_url",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", prompt_mode="prepend", custom_system_prompt="{{ params.p }}"),
        "prompt_mode",
        ["'prepend'", "append", "replace"],
        id="create-prompt_mode-with-templated-prompt",
    ),
    pytest.param(lambda: MixSessionIdleSensor(task_id="t", session_id="."), "session_id", ["'.'"], id="sensor-dot"),
    pytest.param(
        lambda: MixArchiveSessionsOperator(
            task_id="t", base_path="file:///tmp/a", session_ids=["s1"], created_after="2026-01-01"
        ),
        "session_ids",
        ["not both"],
        id="archive-ids-and-dates",
    ),
    pytest.param(
        lambda: MixExportSessionOperator(
            task_id="t", session_id="s1", output_path="file:///tmp/t.json", compression="gzip"
        ),
        "output_path",
        ["'t.json'", "compression='gzip'", ".gz"],
        id="export-gzip-without-gz",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", callbacks=[{"type": "bash_script", "toolName": "Bash"}]),
        "callbacks[0].bash_command",
        ["is required for a bash_script callback"],
        id="create-callbacks",
    ),
    # 8. a callback key with a typo (the model would drop it; the server would refuse it)
    pytest.param(
        lambda: CREATE(
            task_id="t",
            title="t",
            callbacks=[{"type": "bash_script", "toolName": "Bash", "bashCommand": "true", "bash_timout": 5}],
        ),
        "callbacks[0].bash_timout",
        ["not a known key", "'bash_timeout'", "bashTimeout"],
        id="callback-key-typo",
    ),
    pytest.param(
        lambda: MixUpdateSessionCallbacksOperator(
            task_id="t", session_id="s1", callbacks=[{"type": "send_message", "toolName": "x", "mesage": "hi"}]
        ),
        "callbacks[0].mesage",
        ["not a known key", "messageContent"],
        id="update-callback-key-typo",
    ),
    # 2. fail_on_finish_reasons: a list of known finish reasons
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", fail_on_finish_reasons="error"),
        "fail_on_finish_reasons",
        ["must be a list", "'error'", "max_tokens", "permission_denied"],
        id="finish-reasons-a-string",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", fail_on_finish_reasons=["eror"]),
        "fail_on_finish_reasons",
        ["'eror' is not one of", "error", "canceled"],
        id="finish-reasons-typo",
    ),
    # 3. poll_interval and timeout: positive numbers
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", poll_interval=-1),
        "poll_interval",
        ["positive number of seconds", "-1"],
        id="poll_interval-negative",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", poll_interval=0),
        "poll_interval",
        ["positive number of seconds", "0"],
        id="poll_interval-zero",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", timeout=float("nan")),
        "timeout",
        ["positive number of seconds"],
        id="timeout-nan",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", wait_for_reply="no"),
        "wait_for_reply",
        ["true or false", "'no'"],
        id="wait_for_reply-not-bool",
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id="s1", text="hi", thinking_level="extreme"),
        "thinking_level",
        ["'extreme'", *(m.value for m in ThinkingLevel)],
        id="send-thinking_level",
    ),
    # 4. ids that are not one path segment
    pytest.param(lambda: MixGetSessionOperator(task_id="t", session_id="."), "session_id", ["'.'"], id="get-dot"),
    pytest.param(
        lambda: MixDeleteSessionOperator(task_id="t", session_id="..", ignore_missing=True),
        "session_id",
        ["'..'", "one path segment"],
        id="delete-dotdot",
    ),
    pytest.param(
        lambda: MixExportSessionOperator(task_id="t", session_id=".."), "session_id", ["'..'"], id="export-dotdot"
    ),
    pytest.param(
        lambda: MixSendMessageOperator(task_id="t", session_id=".", text="hi"), "session_id", ["'.'"], id="send-dot"
    ),
    pytest.param(
        lambda: MixRewindSessionOperator(task_id="t", session_id="s1", message_id=".."),
        "message_id",
        ["'..'"],
        id="rewind-message-dotdot",
    ),
    pytest.param(
        lambda: MixArchiveSessionsOperator(task_id="t", base_path="file:///tmp/a", session_ids=["s1", ".."]),
        "session_ids",
        ["'..'"],
        id="archive-ids-dotdot",
    ),
    # string-or-list elsewhere: session_ids given as one string
    pytest.param(
        lambda: MixArchiveSessionsOperator(task_id="t", base_path="file:///tmp/a", session_ids="s1"),
        "session_ids",
        ["must be a list of session ids", "str"],
        id="archive-ids-a-string",
    ),
    # 6. title_contains
    pytest.param(
        lambda: MixListSessionsOperator(task_id="t", title_contains=5),
        "title_contains",
        ["must be a string or None", "int 5"],
        id="list-title_contains-int",
    ),
    pytest.param(
        lambda: MixListSessionsOperator(task_id="t", created_after="last tuesday"),
        "created_after",
        ["'last tuesday'", "ISO 8601"],
        id="list-created_after",
    ),
    pytest.param(
        lambda: MixListSessionsOperator(task_id="t", include_subagents="yes"),
        "include_subagents",
        ["true or false"],
        id="list-include_subagents",
    ),
    # 7. an export destination whose scheme no filesystem handles
    pytest.param(
        lambda: MixExportSessionOperator(task_id="t", session_id="s1", output_path="foo://bucket/t.json"),
        "output_path",
        ["'foo://bucket/t.json'", "no known filesystem", "file://", "s3://"],
        id="export-unknown-scheme",
    ),
    pytest.param(
        lambda: MixArchiveSessionsOperator(task_id="t", base_path="foo://bucket/archive"),
        "base_path",
        ["no known filesystem"],
        id="archive-unknown-scheme",
    ),
]


@pytest.mark.parametrize(("build", "field", "says"), AT_PARSE_TIME)
def test_bad_literal_is_refused_when_the_dag_is_parsed(build: Build, field: str, says: list[str]) -> None:
    with pytest.raises(MixConfigError) as info:
        build()
    _named(info, field, says)


#: The same mistakes arriving through a template: accepted when parsed, refused once rendered, before any request.
RENDERED_PARAMS = {"dot": ".", "dotdot": ".."}
WHEN_RENDERED: list[Any] = [
    pytest.param(lambda: MixGetSessionOperator(task_id="t", session_id="{{ params.dot }}"), "session_id", id="get"),
    pytest.param(
        lambda: MixDeleteSessionOperator(task_id="t", session_id="{{ params.dotdot }}", ignore_missing=True),
        "session_id",
        id="delete-ignore-missing",
    ),
    pytest.param(
        lambda: CREATE(task_id="t", title="t", browser_mode="{{ 'chrome' }}"), "browser_mode", id="create-browser"
    ),
]


@pytest.mark.parametrize(("build", "field"), WHEN_RENDERED)
def test_templated_value_is_checked_once_rendered(recorder: Recorder, build: Build, field: str) -> None:
    operator = build()  # a template is not refused at parse time
    operator.mix_conn_id = CONN
    context = {"params": RENDERED_PARAMS, "ti": FakeTI(frozen=True)}
    operator.render_template_fields(context)
    operator.__dict__["hook"] = MixHook(CONN, max_retries=0, transport=recorder.transport())
    with pytest.raises(MixConfigError) as info:
        operator.execute(context)
    assert info.value.field == field
    assert recorder.requests == []


HOOK_CALLS: list[Any] = [
    # 4. the client refuses '.'/'..' itself: httpx would collapse /api/sessions/.. into /api
    pytest.param(lambda h: h.get_session("."), "session_id", id="get-dot"),
    pytest.param(lambda h: h.delete_session(".."), "session_id", id="delete-dotdot"),
    pytest.param(lambda h: h.rewind_session("s1", ".."), "message_id", id="rewind-dotdot"),
    pytest.param(_async(lambda h: h.aget_session("..")), "session_id", id="aget-dotdot"),
    # bools are bools on the hook too: "no" would have been sent as true
    pytest.param(lambda h: h.list_sessions(include_subagents="no"), "include_subagents", id="list-subagents-no"),
    # 3. a bad poll_interval is refused before the message is sent (no run is left behind)
    pytest.param(
        lambda h: h.send_and_wait("s1", "hi", turn=TurnKey.of(0, "hi"), poll_interval=-1),
        "poll_interval",
        id="send_and_wait-poll-negative",
    ),
    pytest.param(
        lambda h: h.wait_for_reply("s1", TurnKey(0), poll_interval=0), "poll_interval", id="wait_for_reply-poll-zero"
    ),
    pytest.param(
        _async(lambda h: h.await_for_reply("s1", TurnKey(0), poll_interval=0)),
        "poll_interval",
        id="await_for_reply-poll",
    ),
    pytest.param(lambda h: h.wait_for_reply("s1", TurnKey(0), timeout=0), "timeout", id="wait_for_reply-timeout-zero"),
    # 8. an unknown callback key through the hook
    pytest.param(
        lambda h: h.update_callbacks(
            "s1", [{"type": "bash_script", "toolName": "b", "bashCommand": "x", "bash_timout": 1}]
        ),
        "callbacks[0].bash_timout",
        id="update_callbacks-key-typo",
    ),
]


@pytest.mark.parametrize(("call", "field"), HOOK_CALLS)
def test_bad_hook_argument_sends_nothing(
    recorder: Recorder, parse_hook: MixHook, call: Callable[[MixHook], Any], field: str
) -> None:
    parse_hook._async_transport = recorder.transport()
    with pytest.raises(MixConfigError) as info:
        call(parse_hook)
    assert info.value.field == field
    assert recorder.requests == []


def test_finish_reason_list_fails_the_task_on_error() -> None:
    """2. ``["error"]`` (not the letters of ``"error"``) fails a reply that finished with ``error``."""
    operator = MixSendMessageOperator(task_id="t", session_id="s1", text="hi", fail_on_finish_reasons=["error"])
    event = {
        "status": "success",
        "session_id": "s1",
        "message_id": "m1",
        "reply": "boom",
        "reply_truncated": False,
        "finish_reason": "error",
        "tool_calls": 0,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost": 0.0,
    }
    with pytest.raises(Exception, match="finish reason 'error'"):
        operator.execute_complete({}, event)


def test_session_finished_trigger_refuses_a_busy_poll() -> None:
    """3 (elsewhere): the event trigger's poll_interval=0 would spin its event loop."""
    from mix_provider.triggers.session import MixSessionFinishedTrigger

    with pytest.raises(MixConfigError) as info:
        MixSessionFinishedTrigger(poll_interval=0)
    _named(info, "poll_interval", ["positive number of seconds"])
    with pytest.raises(MixConfigError) as info:
        MixSessionFinishedTrigger(session_id="..")
    _named(info, "session_id", ["'..'"])


DESTINATIONS: list[Any] = [
    pytest.param("parent-is-a-file", "output_path", ["is a file, not a directory"], id="parent-is-a-file"),
    pytest.param("target-is-a-dir", "output_path", ["exists and is not a file"], id="target-is-a-dir"),
    pytest.param("s3", "output_path", ["s3://", "s3fs"], id="s3-without-s3fs"),
    pytest.param("base-is-a-file", "base_path", ["exists and is not a directory"], id="archive-base-is-a-file"),
]


@pytest.mark.parametrize(("case", "field", "says"), DESTINATIONS)
def test_bad_destination_is_refused_before_the_export(
    recorder: Recorder, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, case: str, field: str, says: list[str]
) -> None:
    """7. Checked before ``GET /export`` starts, naming the argument and the path."""
    if case == "s3":  # s3fs unimportable here even where it is installed (the amazon provider brings it)
        monkeypatch.setitem(sys.modules, "s3fs", None)
        monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    (tmp_path / "a-dir.json").mkdir()
    operator: Any
    if case == "base-is-a-file":
        operator = MixArchiveSessionsOperator(task_id="t", base_path=f"file://{blocker}", session_ids=["s1"])
    else:
        path = {
            "parent-is-a-file": f"file://{blocker}/sub/t.json",
            "target-is-a-dir": f"file://{tmp_path}/a-dir.json",
            "s3": "s3://bucket/t.json",
        }[case]
        operator = MixExportSessionOperator(task_id="t", session_id="s1", output_path=path)
    operator.__dict__["hook"] = MixHook(CONN, max_retries=0, transport=recorder.transport())
    with pytest.raises(MixConfigError) as info:
        operator.execute({"ti": FakeTI(frozen=True)})
    _named(info, field, says)
    if case != "s3":
        assert str(blocker if "file" in case else tmp_path) in str(info.value)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        pytest.param({"timout": 5}, "extra.timout", ["not a known key", "'timeout'", "verify_ssl"], id="timout"),
        pytest.param({"verify_ssl": "maybe"}, "extra.verify_ssl", ["'maybe'", "true, false", "CA bundle"], id="maybe"),
    ],
)
@pytest.mark.parametrize("host", ["http://mix.test", "https://mix.test"])
def test_bad_extra_is_named_for_any_scheme(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, host: str, extra: dict[str, Any], field: str, says: list[str]
) -> None:
    """5, 8. A typo'd key or a ``verify_ssl`` that is neither a bool nor a CA bundle: a config error, not an OSError."""
    define_conn(monkeypatch, "mix_bad_extra", host=host, extra=extra)
    with pytest.raises(MixConfigError) as info:
        MixHook("mix_bad_extra", transport=recorder.transport()).health()
    _named(info, field, says)
    assert recorder.requests == []


def test_a_file_that_is_no_ca_bundle_is_named(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, tmp_path: Any
) -> None:
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("not a certificate\n")
    extra = {"verify_ssl": str(bundle)}
    define_conn(monkeypatch, "mix_bad_ca", host="https://mix.test", extra=extra)
    with pytest.raises(MixConfigError) as info:
        MixHook("mix_bad_ca", transport=recorder.transport()).health()
    _named(info, "verify_ssl", [str(bundle), "not a readable CA bundle"])
    assert recorder.requests == []


def test_config_repr_hides_the_token_and_header_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """9. ``repr(hook.config)`` (logged, shown in tracebacks) holds no secret; the connection fields neither."""
    from mix_provider.hooks.connection import ConnectionFields

    extra = {"headers": {"X-Api-Key": HEADER_VALUE}}
    conn = {"conn_type": "mix", "host": "http://mix.test", "password": TOKEN, "extra": extra}
    define_conn(monkeypatch, "mix_secrets", **conn)
    config = MixHook("mix_secrets").config
    for text in (repr(config), str(config), repr(ConnectionFields("h", password=TOKEN, extra=extra))):
        assert TOKEN not in text and HEADER_VALUE not in text, text
    assert "X-Api-Key" in repr(config) and "***" in repr(config)
    assert config.request_headers()["Authorization"] == f"Bearer {TOKEN}"  # still sent


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"read_timeout": float("nan")}, "read_timeout", id="read_timeout-nan"),
        pytest.param({"stream_timeout": True}, "stream_timeout", id="stream_timeout-bool"),
        pytest.param({"verify_ssl": "/no/such/ca.pem"}, "verify_ssl", id="verify_ssl-missing-bundle"),
    ],
)
def test_client_config_numbers_and_bundle(kwargs: dict[str, Any], field: str) -> None:
    """The plain client (no Airflow) checks the same rules as the connection."""
    from mix_provider.client import ClientConfig

    with pytest.raises(MixConfigError) as info:
        ClientConfig(base_url="http://mix.test:8088", **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"max_retries": 1.5}, "max_retries", id="max_retries-float"),
        pytest.param({"initial_wait": float("inf")}, "retry_initial_wait", id="initial_wait-inf"),
        pytest.param({"multiplier": 0}, "retry_multiplier", id="multiplier-zero"),
    ],
)
def test_retry_policy_numbers(kwargs: dict[str, Any], field: str) -> None:
    from mix_provider.client import RetryPolicy

    with pytest.raises(MixConfigError) as info:
        RetryPolicy(**kwargs)
    assert info.value.field == field


def test_message_trigger_refuses_bad_arguments_when_built() -> None:
    """3 (elsewhere): a trigger built with a bad poll or deadline fails at once, not after the send."""
    from mix_provider.triggers.message import MixMessageTrigger

    good: dict[str, Any] = {"session_id": "s1", "baseline": {}, "deadline": 2e9, "poll_interval": 1.0}
    for field, value in (("poll_interval", 0), ("deadline", 0), ("max_failures", -1), ("session_id", "..")):
        with pytest.raises(MixConfigError) as info:
            MixMessageTrigger(**{**good, field: value})
        assert info.value.field == field


@pytest.mark.parametrize("text", ["{% if params.x %}a{% endif %}", "{# a comment #}"], ids=["block", "comment"])
def test_jinja_statements_and_comments_are_templates(text: str) -> None:
    """A literal check at parse time would refuse what only rendering decides."""
    CREATE(task_id="t", title="t", browser_mode=text)
    MixGetSessionOperator(task_id="g", session_id=text)
