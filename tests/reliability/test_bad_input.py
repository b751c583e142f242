"""Every bad input is a clear error: it names the field and what is accepted, before any request.

Fills what the unit tests do not cover: connections read by a real hook, values that turn bad only once
their templates render, a custom prompt the server would silently ignore; and, against the local server,
unknown session and message ids (a typed 404 naming the id, never retried).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mix_provider.archive import read_summary
from mix_provider.client import TurnKey
from mix_provider.errors import MixConfigError, MixNotFoundError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import BrowserMode, PromptMode, ThinkingLevel
from mix_provider.operators.archive import ArchiveSessionsOperator
from mix_provider.operators.export import ExportSessionOperator
from mix_provider.operators.message import SendMessageOperator
from mix_provider.operators.rewind import RewindSessionOperator
from mix_provider.operators.session import CreateSessionOperator, ListSessionsOperator

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


@dataclass
class Recorder:
    """An ``httpx.MockTransport`` handler that records every request (none is expected)."""

    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500, json={"error": {"code": 500, "message": "no request was expected"}})


class FakeTI:
    """Takes XCom pushes (none happens before validation)."""

    def xcom_push(self, key: str, value: Any) -> None:
        raise AssertionError("nothing may be pushed before the arguments are valid")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """``mix_bad_input`` points at an address nothing serves; requests go to the recorder instead."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "mix", "host": "http://mix.invalid"}))
    return Recorder()


BAD_CONNECTIONS = [
    pytest.param({}, "host", ["is required", "http://127.0.0.1:8088"], id="no-host"),
    pytest.param({"host": "ftp://mix.test"}, "host", ["'ftp'", "http, https"], id="bad-scheme-in-host"),
    pytest.param({"host": "mix.test", "schema": "gopher"}, "schema", ["'gopher'", "http, https"], id="bad-schema"),
    pytest.param({"host": "mix.test:abc"}, "host", ["'abc'", "1..65535"], id="non-numeric-port"),
    pytest.param({"host": "mix.test", "port": 70000}, "port", ["70000", "1..65535"], id="port-out-of-range"),
    pytest.param({"host": "mix.test", "extra": '{"timeout": 5,'}, "extra", ["not valid JSON", "object"], id="bad-json"),
    pytest.param({"host": "mix.test", "extra": "[1]"}, "extra", ["JSON object", "list"], id="extra-not-object"),
    pytest.param({"host": "mix.test", "extra": {"timeout": "soon"}}, "extra.timeout", [">= 0.001"], id="timeout"),
    pytest.param(
        {"host": "mix.test", "extra": {"verify_ssl": 2}}, "extra.verify_ssl", ["true, false", "CA"], id="verify_ssl"
    ),
]


@pytest.mark.parametrize(("fields", "field", "says"), BAD_CONNECTIONS)
def test_bad_connection(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, fields: dict[str, Any], field: str, says: list[str]
) -> None:
    """A real Airflow connection (``AIRFLOW_CONN_*``) read by a real hook, sync and async."""
    monkeypatch.setenv("AIRFLOW_CONN_MIX_BAD_CONN", json.dumps({"conn_type": "mix", **fields}))
    hook = MixHook("mix_bad_conn", transport=httpx.MockTransport(recorder))
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
CREATE = CreateSessionOperator
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
        lambda: SendMessageOperator(task_id="t", session_id="s1", text="hi", thinking_level="{{ params.level }}"),
        "thinking_level",
        ["'extreme'", *(m.value for m in ThinkingLevel)],
        id="thinking_level-rendered",
    ),
    pytest.param(
        lambda: SendMessageOperator(task_id="t", session_id="{{ params.blank }}", text="hi"),
        "session_id",
        ["must not be empty"],
        id="session_id-rendered",
    ),
    pytest.param(
        # max_steps is not a template field: a Jinja string is refused when the DAG is parsed.
        lambda: SendMessageOperator(task_id="t", session_id="s1", text="hi", max_steps="{{ params.steps }}"),  # type: ignore[arg-type]
        "max_steps",
        ["integer >= 1", "'{{ params.steps }}'"],
        id="max_steps-templated",
    ),
    pytest.param(
        lambda: ExportSessionOperator(task_id="t", session_id="s1", compression="{{ params.compression }}"),
        "compression",
        ["'bz2'", "None, gzip"],
        id="compression-rendered",
    ),
    pytest.param(
        lambda: ArchiveSessionsOperator(task_id="t", base_path="file:///tmp/a", session_ids="{{ params.ids }}"),
        "session_ids",
        ["must be a list of session ids", "str"],
        id="session_ids-rendered-as-text",
    ),
    pytest.param(
        lambda: ListSessionsOperator(task_id="t", created_after="{{ params.when }}"),
        "created_after",
        ["'last tuesday'", "ISO 8601"],
        id="created_after-rendered",
    ),
    pytest.param(
        lambda: RewindSessionOperator(task_id="t", session_id="s1", message_id="{{ params.blank }}"),
        "message_id",
        ["must not be empty"],
        id="message_id-rendered",
    ),
]


@pytest.mark.parametrize(("build", "field", "says"), BAD_ARGUMENTS)
def test_bad_argument(recorder: Recorder, build: Build, field: str, says: list[str]) -> None:
    """Built (checked at parse time), rendered with ``params``, executed: one clear error, no request."""
    context = {"params": PARAMS, "ti": FakeTI()}
    with pytest.raises(MixConfigError) as info:
        operator = build()
        operator.mix_conn_id = CONN
        operator.render_template_fields(context)
        operator.__dict__["hook"] = MixHook(CONN, max_retries=0, transport=httpx.MockTransport(recorder))
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
    pytest.param("GET", "/messages", lambda h: h.get_messages(SID), id="get_messages"),
    pytest.param("PATCH", "/callbacks", lambda h: h.update_callbacks(SID, []), id="update_callbacks"),
    pytest.param("POST", "/rewind", lambda h: h.rewind_session(SID, "m1"), id="rewind_session"),
    pytest.param("POST", "/cancel", lambda h: h.cancel_session(SID), id="cancel_session"),
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
    assert str(info.value) == f"POST {path} -> 404 not_found: Message with ID 'no-such-message' not found in session"
    assert mix_server.request_count("POST", re.escape(path)) - before == 1
    assert len(hook.export_session(session["id"]).messages) == 2, "nothing was rewound"
