"""What the client sends and how it reads answers: bodies, headers, typed errors, malformed bodies."""

from __future__ import annotations

import pytest
from mix_fake import BASE_URL, FakeMix, Runner, answer, error, session_json

from mix_provider.client import ClientConfig, MessageOptions, RetryPolicy, SessionSpec
from mix_provider.client import operations as ops
from mix_provider.errors import (
    MixAPIError,
    MixBadRequestError,
    MixConfigError,
    MixMalformedResponseError,
    MixNotFoundError,
    MixRateLimitedError,
    MixServerError,
    MixUnauthorizedError,
)
from mix_provider.models import BrowserMode, Callback, CallbackType, PromptMode, ThinkingLevel

SID = "0b9f6f2e-1c1d-4d52-9a57-1f7c2c0f1a11"
SESSION_PATH = f"/api/sessions/{SID}"


def test_create_sends_only_the_fields_set(fake: FakeMix, run: Runner) -> None:
    fake.on("POST", "/api/sessions", answer(201, session_json(SID, "nightly")))
    session = run(ops.create_session("nightly"))
    assert session.id == SID and session.title == "nightly"
    assert fake.bodies("POST", "/api/sessions") == [{"title": "nightly", "browserMode": "local-browser-service"}]


def test_create_with_every_option_has_no_nulls(fake: FakeMix, run: Runner) -> None:
    fake.on("POST", "/api/sessions", answer(201, session_json(SID)))
    callback = Callback(type=CallbackType.BASH_SCRIPT, tool_name="*", bash_command="echo done")
    run(
        ops.create_session(
            SessionSpec(
                "t",
                browser_mode=BrowserMode.REMOTE_CDP_WEBSOCKET,
                cdp_url="ws://browser:9222",
                custom_system_prompt="Be brief.",
                prompt_mode=PromptMode.APPEND,
                callbacks=(callback,),
            )
        )
    )
    assert fake.bodies("POST", "/api/sessions") == [
        {
            "title": "t",
            "browserMode": "remote-cdp-websocket",
            "cdpUrl": "ws://browser:9222",
            "promptMode": "append",
            "customSystemPrompt": "Be brief.",
            "callbacks": [{"type": "bash_script", "toolName": "*", "bashCommand": "echo done"}],
        }
    ]


@pytest.mark.parametrize("cleanup", [False, True])
def test_rewind_always_sends_cleanup_media(fake: FakeMix, run: Runner, cleanup: bool) -> None:
    fake.on("POST", f"{SESSION_PATH}/rewind", answer(200, session_json(SID)))
    run(ops.rewind_session(SID, "m-1", cleanup_media=cleanup))
    assert fake.bodies("POST", f"{SESSION_PATH}/rewind") == [{"messageId": "m-1", "cleanupMedia": cleanup}]


def test_send_message_bodies(fake: FakeMix, run: Runner) -> None:
    fake.on("POST", f"{SESSION_PATH}/messages", answer(202, {"status": "processing", "sessionId": SID}))
    accepted = run(ops.send_message(SID, "hello"))
    run(
        ops.send_message(SID, "again", MessageOptions(plan_mode=False, thinking_level=ThinkingLevel.BASIC, max_steps=3))
    )
    assert accepted.status == "processing" and accepted.session_id == SID
    assert fake.bodies("POST", f"{SESSION_PATH}/messages") == [
        {"text": "hello"},
        {"text": "again", "plan_mode": False, "thinking_level": "basic", "max_steps": 3},
    ]


def test_bodiless_calls_and_query_parameters(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", "/api/sessions", answer(200, [session_json(SID)]))
    fake.on("POST", f"{SESSION_PATH}/cancel", answer(200, {"status": "cancelled", "sessionId": SID}))
    fake.on("DELETE", SESSION_PATH, answer(204))
    assert [s.id for s in run(ops.list_sessions())] == [SID]
    run(ops.list_sessions(include_subagents=True))
    assert run(ops.cancel_session(SID)).status == "cancelled"
    assert run(ops.delete_session(SID)) is None
    queries = [r.url.query for r in fake.sent("GET", "/api/sessions")]
    assert queries == [b"", b"includeSubagents=true"]
    assert all(not r.content for r in fake.requests)


def test_update_callbacks_sends_camel_case_without_nulls(fake: FakeMix, run: Runner) -> None:
    fake.on("PATCH", f"{SESSION_PATH}/callbacks", answer(200, session_json(SID)))
    run(ops.update_callbacks(SID, [{"type": "send_message", "tool_name": "Bash", "message_content": "next"}]))
    run(ops.update_callbacks(SID, []))
    assert fake.bodies("PATCH", f"{SESSION_PATH}/callbacks") == [
        {"callbacks": [{"type": "send_message", "toolName": "Bash", "messageContent": "next"}]},
        {"callbacks": []},
    ]


def test_headers_carry_token_and_extra_headers(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", "/health", answer(200, {"status": "ok", "version": "1.2.3"}))
    cfg = ClientConfig(BASE_URL, token="tok-12345", headers={"X-Tenant": "blue"})
    assert run(ops.health(), cfg).version == "1.2.3"
    sent = fake.requests[0].headers
    assert sent["authorization"] == "Bearer tok-12345"
    assert sent["x-tenant"] == "blue"
    assert sent["accept"] == "application/json"


def test_no_authorization_header_without_token(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", "/health", answer(200, {"status": "ok"}))
    run(ops.health())
    assert "authorization" not in fake.requests[0].headers


def test_session_id_is_quoted_and_checked_before_sending(fake: FakeMix) -> None:
    with pytest.raises(MixConfigError, match="session_id"):
        ops.get_session("../etc")
    assert ops.get_session("a:b").path == "/api/sessions/a%3Ab"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "validation_error", MixBadRequestError),
        (400, "bad_request", MixBadRequestError),
        (401, "unauthorized", MixUnauthorizedError),
        (404, "not_found", MixNotFoundError),
        (409, "conflict", MixAPIError),
        (429, "rate_limited", MixRateLimitedError),
        (500, "internal_error", MixServerError),
        (503, "internal_error", MixServerError),
    ],
)
def test_status_maps_to_error_class(
    fake: FakeMix, run: Runner, status: int, error_type: str, cls: type[MixAPIError]
) -> None:
    fake.on("GET", SESSION_PATH, error(status, error_type, f"Session with ID '{SID}' says {status}"))
    with pytest.raises(cls) as info:
        run(ops.get_session(SID), max_retries=0)
    exc = info.value
    assert type(exc) is cls
    assert (exc.status, exc.error_type, exc.method, exc.path) == (status, error_type, "GET", SESSION_PATH)
    assert exc.message == f"Session with ID '{SID}' says {status}"
    assert str(status) in str(exc) and exc.message in str(exc)


def test_plain_text_error_body_becomes_the_message(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", "/health", answer(502, b"Bad Gateway from the proxy"))
    with pytest.raises(MixServerError) as info:
        run(ops.health(), max_retries=0)
    assert info.value.error_type is None
    assert info.value.message == "Bad Gateway from the proxy"


@pytest.mark.parametrize(
    "body",
    [b'{"status": "ok", "trunc', b"<html>gateway</html>", b'[{"id": 1}]'],
    ids=["truncated-json", "html", "wrong-shape"],
)
def test_malformed_success_body(fake: FakeMix, run: Runner, body: bytes) -> None:
    fake.on("GET", SESSION_PATH, answer(200, body))
    with pytest.raises(MixMalformedResponseError) as info:
        run(ops.get_session(SID), max_retries=0)
    assert info.value.status == 200 and info.value.path == SESSION_PATH


def test_missing_required_field_names_it(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", "/api/sessions", answer(200, [{"title": "no id"}]))
    with pytest.raises(MixMalformedResponseError, match=r"0\.id"):
        run(ops.list_sessions(), max_retries=0)


def test_unknown_fields_and_missing_optional_fields_are_tolerated(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", SESSION_PATH, answer(200, {"id": SID, "title": "old server", "newField": {"x": 1}}))
    session = run(ops.get_session(SID))
    assert session.browser_mode is None and session.session_type is None and session.user_message_count == 0


def test_server_error_message_is_redacted(fake: FakeMix, run: Runner) -> None:
    echo = "proxy refused Authorization: Bearer tok-secret-1 with X-Api-Key=key-secret-2"
    fake.on("GET", "/health", error(401, "unauthorized", echo))
    cfg = ClientConfig(BASE_URL, token="tok-secret-1", headers={"X-Api-Key": "key-secret-2"})
    with pytest.raises(MixUnauthorizedError) as info:
        run(ops.health(), cfg)
    assert "tok-secret-1" not in str(info.value) and "key-secret-2" not in str(info.value)
    assert info.value.message == "proxy refused Authorization: Bearer *** with X-Api-Key=***"


def test_retry_policy_is_validated() -> None:
    with pytest.raises(MixConfigError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(MixConfigError, match="retry_max_wait"):
        RetryPolicy(max_wait=-1)
