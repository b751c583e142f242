"""Conformance with the real Mix server: notifications of the ``Notify`` tool and their responses.

Each test names the Go file and function of ``recreate-run/mix`` (``mix_agent/internal/``) it
follows. They run over real sockets against the shared devserver, with plain httpx.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from mix_provider.devserver.notifications import parse_notify, parse_question
from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import converse, create_session, named

NOT_FOUND = "Notification not found or already responded\n"


def _responding(body: dict[str, Any], answers: list[httpx.Response], delay: float = 0.0) -> Any:
    """Return a ``react`` that answers every ``notification`` event with ``body`` after ``delay``."""

    async def react(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        if name == "notification":
            await asyncio.sleep(delay)
            answers.append(await client.post(f"/api/notifications/{data['id']}/respond", json=body))

    return react


async def test_question_answered_with_a_choice(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``llm/tools/notify.go::notifyTool.Run`` blocks until the response; ``http/sse.go::
    HandleSSEStream`` sends ``NotificationEvent`` (``createdAt`` in Unix milliseconds);
    ``http/rest_system.go::HandleNotificationRespond`` answers 204, and 404 once the
    notification is answered (``notification.go::Respond``: the id is deleted when
    ``Request`` returns). The tool result is ``User selected: V``; the reply says the answer."""
    session_id = create_session(http)
    answers: list[httpx.Response] = []
    before = time.time() * 1000
    text = "ship it [[question:Deploy to prod?|yes,no|timeout=5]]"
    events = await converse(
        mix_server.base_url, session_id, text, _responding({"type": "choice", "value": "yes"}, answers)
    )
    (event,) = named(events, "notification")
    assert list(event) == [
        "type",
        "id",
        "sessionId",
        "notificationType",
        "title",
        "message",
        "responseType",
        "choices",
        "timeout",
        "createdAt",
    ]
    assert (event["type"], event["sessionId"], event["notificationType"]) == ("notification", session_id, "question")
    assert event["title"] == event["message"] == "Deploy to prod?"
    assert (event["responseType"], event["choices"], event["timeout"]) == ("choice", ["yes", "no"], 5)
    assert before - 1000 <= event["createdAt"] <= time.time() * 1000
    assert uuid.UUID(event["id"]).version == 4
    assert answers[0].status_code == 204 and answers[0].content == b""
    assert events[-1][0] == "complete" and events[-1][1]["content"] == "You said: ship it\nanswered: yes"
    again = http.post(f"/api/notifications/{event['id']}/respond", json={"type": "choice", "value": "no"})
    assert (again.status_code, again.text) == (404, NOT_FOUND)
    call = http.get(f"/api/sessions/{session_id}/export").json()["messages"][1]["toolCalls"][0]
    assert call["name"] == "Notify"
    assert call["inputJson"] == {
        "type": "question",
        "title": "Deploy to prod?",
        "message": "Deploy to prod?",
        "responseType": "choice",
        "choices": ["yes", "no"],
        "timeout": 5,
    }


async def test_question_times_out(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``notification.go::notificationService.Request`` gives up after the timeout
    (``ErrNotificationTimeout``); ``notify.go::notifyTool.Run`` turns that into an error result and
    the run goes on. A text question has no ``choices``; a late response gets the plain 404."""
    session_id = create_session(http)
    started = time.monotonic()

    async def ignore(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        return None

    events = await converse(mix_server.base_url, session_id, "name? [[question:Your name?|timeout=1]]", ignore)
    assert time.monotonic() - started >= 1
    (event,) = named(events, "notification")
    assert (event["responseType"], event["timeout"]) == ("text", 1) and "choices" not in event
    assert named(events, "tool_execution_complete")[0]["success"] is True
    assert events[-1][1]["content"] == "You said: name?\nno answer: timed out after 1 s"
    late = http.post(f"/api/notifications/{event['id']}/respond", json={"type": "text", "value": "Ada"})
    assert (late.status_code, late.text) == (404, NOT_FOUND)


async def test_info_notification_waits_for_acknowledge(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``notify.go::notifyTool.Run`` blocks for every type, ``info`` included, until acknowledged
    (timeout 60 s by default, ``notification.go::DefaultTimeout``); the result is ``User
    acknowledged the notification``."""
    session_id = create_session(http)
    answers: list[httpx.Response] = []
    started = time.monotonic()
    react = _responding({"type": "acknowledge"}, answers, delay=0.5)
    events = await converse(mix_server.base_url, session_id, "fyi [[notify:info:Build started]]", react)
    assert time.monotonic() - started >= 0.5
    (event,) = named(events, "notification")
    assert (event["notificationType"], event["responseType"], event["timeout"]) == ("info", "acknowledge", 60)
    assert event["title"] == event["message"] == "Build started" and "choices" not in event
    names = [name for name, _ in events]
    assert names.index("notification") + 1 == names.index("tool_execution_complete")
    assert answers[0].status_code == 204
    assert events[-1][1]["content"] == "You said: fyi\nacknowledged"


def test_unknown_id_and_bad_body(http: httpx.Client) -> None:
    """``http/rest_system.go::HandleNotificationRespond`` decodes the body into a
    ``map[string]string`` first (400 ``Validation error for field 'body'``), then answers an id
    that is not pending with Go's plain-text ``http.Error`` 404 (not the JSON envelope)."""
    unknown = str(uuid.uuid4())
    response = http.post(f"/api/notifications/{unknown}/respond", json={"type": "acknowledge"})
    assert (response.status_code, response.text) == (404, NOT_FOUND)
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    bad = http.post(f"/api/notifications/{unknown}/respond", json=["acknowledge"])
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": 400,
        "message": "Validation error for field 'body': json: cannot unmarshal array into Go value of type "
        "map[string]string",
        "type": "validation_error",
    }
    number = http.post(f"/api/notifications/{unknown}/respond", content=json.dumps({"type": 1}))
    assert number.status_code == 400 and "into Go value of type string" in number.json()["error"]["message"]


async def test_invalid_choice_question_fails_without_notifying(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``notify.go::notifyTool.Run`` checks its parameters first: a ``choice`` needs at least two
    choices, else an error result and no notification."""
    session_id = create_session(http)
    answers: list[httpx.Response] = []
    events = await converse(mix_server.base_url, session_id, "pick [[question:Which?|only]]", _responding({}, answers))
    assert not named(events, "notification") and not answers
    assert (
        events[-1][1]["content"] == "You said: pick\nnotification failed: choices array must contain at least 2 options"
    )


async def test_cancel_while_a_question_is_pending(mix_server: MixDevServer, http: httpx.Client) -> None:
    """Cancel during the tool phase (``agent.go::CancelWithReason``) ends the run with ``error``
    ``context canceled``; the notification is no longer pending, so responding gets the 404."""
    session_id = create_session(http)
    pending: list[str] = []

    async def cancel(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        if name == "notification":
            pending.append(data["id"])
            await client.post(f"/api/sessions/{session_id}/cancel")

    events = await converse(mix_server.base_url, session_id, "hold [[question:Continue?|yes,no]]", cancel)
    assert events[-1] == ("error", {"error": "context canceled"})
    late = http.post(f"/api/notifications/{pending[0]}/respond", json={"type": "choice", "value": "yes"})
    assert (late.status_code, late.text) == (404, NOT_FOUND)


def test_directive_grammar() -> None:
    """The directives map onto ``notify.go``'s ``NotifyParams``: a question with choices is a
    ``choice``, without them a ``text``; ``notify`` is answered with ``acknowledge``."""
    question = parse_question("Deploy to prod? | yes, no | timeout=5")
    assert (question.type, question.title, question.response_type) == ("question", "Deploy to prod?", "choice")
    assert (question.choices, question.timeout) == (("yes", "no"), 5)
    note = parse_notify("warning:Disk almost full|timeout=7")
    assert (note.type, note.message, note.response_type, note.choices, note.timeout) == (
        "warning",
        "Disk almost full",
        "acknowledge",
        (),
        7,
    )
    assert json.loads(note.tool_input()) == {
        "type": "warning",
        "title": "Disk almost full",
        "message": "Disk almost full",
        "responseType": "acknowledge",
        "timeout": 7,
    }
