"""Non-idempotent calls whose answer is lost are reconciled, never blindly sent twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from mix_fake import FakeMix, Outcome, Runner, answer, error, fail, session_json

from mix_provider.client import TurnKey
from mix_provider.client import operations as ops
from mix_provider.errors import MixNotFoundError, MixOutcomeUnknownError

SID = "5d0e7a4c-8a86-4a43-9d8f-8b2f5b8f0c01"
MESSAGES = f"/api/sessions/{SID}/messages"
LOST_ANSWERS = [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout]


class SessionsServer:
    """Server-side state of ``POST/GET /api/sessions``: what was really created.

    :ivar lookups_failing: how many more ``GET /api/sessions`` fail to connect.
    """

    def __init__(self, fake: FakeMix) -> None:
        self.fake = fake
        self.created: list[dict[str, Any]] = []
        self.lookups_failing = 0
        fake.on("GET", "/api/sessions", self._list)

    def create(self, request: httpx.Request) -> httpx.Response:
        """Apply a create and answer 201."""
        body = session_json(f"s-{len(self.created) + 1}", json.loads(request.content)["title"])
        self.created.append(body)
        return httpx.Response(201, json=body)

    def applied_then(self, outcome: Outcome) -> Outcome:
        """Apply the create, but answer ``outcome`` instead."""
        return lambda request: (self.create(request), outcome(request))[1]

    def _list(self, request: httpx.Request) -> httpx.Response:
        if self.lookups_failing > 0:
            self.lookups_failing -= 1
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=self.created)

    def posts(self) -> int:
        """How many creates were sent."""
        return len(self.fake.sent("POST", "/api/sessions"))

    def lists(self) -> int:
        """How many lookups were made."""
        return len(self.fake.sent("GET", "/api/sessions"))


@pytest.fixture
def server(fake: FakeMix) -> SessionsServer:
    """The sessions state behind ``fake``."""
    return SessionsServer(fake)


@pytest.mark.parametrize("lost", LOST_ANSWERS)
def test_applied_create_is_found_not_resent(
    server: SessionsServer, run: Runner, waits: list[float], lost: type[httpx.HTTPError]
) -> None:
    server.fake.on("POST", "/api/sessions", fail(lost, effect=server.create), server.create)
    session = run(ops.create_session("nightly"))
    assert session.id == "s-1" and session.title == "nightly"
    assert (server.posts(), server.lists()) == (1, 1)
    assert len(server.created) == 1


def test_create_not_applied_is_sent_again(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.fake.on("POST", "/api/sessions", fail(httpx.RemoteProtocolError), server.create)
    session = run(ops.create_session("nightly"))
    assert session.id == "s-1"
    assert (server.posts(), server.lists()) == (2, 1)


@pytest.mark.parametrize("in_flight", [fail(httpx.ReadTimeout), error(504, "gateway_timeout", "upstream slow")])
def test_timed_out_create_not_found_is_not_resent(
    server: SessionsServer, run: Runner, waits: list[float], in_flight: Outcome
) -> None:
    """The server may still apply a request whose answer timed out: a resend could duplicate it."""
    server.fake.on("POST", "/api/sessions", in_flight, server.create)
    with pytest.raises(MixOutcomeUnknownError, match="may still apply it"):
        run(ops.create_session("nightly"))
    assert (server.posts(), server.lists()) == (1, 1)


def test_create_answered_5xx_is_reconciled(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.fake.on("POST", "/api/sessions", server.applied_then(error(502, "bad_gateway", "proxy")), server.create)
    assert run(ops.create_session("nightly")).id == "s-1"
    assert (server.posts(), server.lists()) == (1, 1)


def test_create_with_malformed_answer_is_reconciled(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.fake.on("POST", "/api/sessions", server.applied_then(answer(201, b'{"id": "s-')), server.create)
    assert run(ops.create_session("nightly")).id == "s-1"
    assert (server.posts(), len(server.created)) == (1, 1)


def test_ambiguous_create_raises_outcome_unknown(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.created.append(session_json("other", "nightly"))
    server.fake.on("POST", "/api/sessions", fail(httpx.ReadTimeout, effect=server.create), server.create)
    with pytest.raises(MixOutcomeUnknownError, match="2 sessions match") as info:
        run(ops.create_session("nightly"))
    assert info.value.sent is True
    assert server.posts() == 1


def test_only_same_title_within_window_matches(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    server.created += [session_json("old", "nightly", created_at=old), session_json("new", "other title")]
    server.fake.on("POST", "/api/sessions", fail(httpx.RemoteProtocolError), server.create)
    session = run(ops.create_session("nightly"))
    assert session.id == "s-3"
    assert (server.posts(), server.lists()) == (2, 1)


@pytest.mark.parametrize("status", [408, 429])
def test_create_refused_unprocessed_is_resent_without_lookup(
    server: SessionsServer, run: Runner, waits: list[float], status: int
) -> None:
    server.fake.on("POST", "/api/sessions", error(status, "rate_limited", "later"), server.create)
    assert run(ops.create_session("nightly")).id == "s-1"
    assert (server.posts(), server.lists()) == (2, 0)


@pytest.mark.parametrize("not_sent", [httpx.ConnectError, httpx.ConnectTimeout])
def test_create_not_sent_is_simply_retried(
    server: SessionsServer, run: Runner, waits: list[float], not_sent: type[httpx.HTTPError]
) -> None:
    server.fake.on("POST", "/api/sessions", fail(not_sent), fail(not_sent), server.create)
    assert run(ops.create_session("nightly")).id == "s-1"
    assert (server.posts(), server.lists()) == (3, 0)


def test_failed_lookup_does_not_license_a_blind_resend(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.fake.on("POST", "/api/sessions", fail(httpx.ReadTimeout, effect=server.create), server.create)
    server.lookups_failing = 3  # more than one lookup's own retries
    session = run(ops.create_session("nightly"), max_retries=2)
    assert session.id == "s-1"
    assert server.posts() == 1 and len(server.created) == 1


def test_unsettled_create_ends_outcome_unknown(server: SessionsServer, run: Runner, waits: list[float]) -> None:
    server.fake.on("POST", "/api/sessions", fail(httpx.RemoteProtocolError))
    with pytest.raises(MixOutcomeUnknownError, match="could not be reconciled"):
        run(ops.create_session("nightly"), max_retries=2)
    assert (server.posts(), server.lists()) == (3, 2)


def test_outcome_unknown_stays_unknown_when_lookups_fail(
    server: SessionsServer, run: Runner, waits: list[float]
) -> None:
    server.fake.on("POST", "/api/sessions", fail(httpx.ReadTimeout, effect=server.create))
    server.lookups_failing = 100
    with pytest.raises(MixOutcomeUnknownError):
        run(ops.create_session("nightly"), max_retries=1)
    assert server.posts() == 1


EXPORT = f"/api/sessions/{SID}/export"


def _users(*texts: str) -> Outcome:
    """The transcript's answer: one user message per text, each answered."""
    rows: list[dict[str, Any]] = []
    for n, text in enumerate(texts):
        rows += [
            {"id": f"u{n}", "role": "user", "content": text},
            {"id": f"a{n}", "role": "assistant", "content": "ok", "finishReason": "end_turn"},
        ]
    return answer(200, {"id": SID, "title": "t", "messages": rows})


ACCEPTED = answer(202, {"status": "processing", "sessionId": SID})


@pytest.mark.parametrize("lost", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_applied_send_is_found_by_baseline(
    fake: FakeMix, run: Runner, waits: list[float], lost: type[httpx.HTTPError]
) -> None:
    fake.on("POST", MESSAGES, fail(lost), ACCEPTED)
    fake.on("GET", EXPORT, _users("one", "two", "hi"))
    accepted = run(ops.send_message(SID, "hi", turn=TurnKey.of(2, "hi")))
    assert accepted.status == "processing" and accepted.session_id == SID
    assert len(fake.sent("POST", MESSAGES)) == 1


def test_send_not_applied_is_sent_again(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", MESSAGES, error(503, "internal_error", "restarting"), ACCEPTED)
    fake.on("GET", EXPORT, _users("one", "two"))
    run(ops.send_message(SID, "hi", turn=TurnKey.of(2, "hi")))
    assert len(fake.sent("POST", MESSAGES)) == 2
    assert len(fake.sent("GET", EXPORT)) == 1


def test_someone_elses_message_is_not_taken_for_ours(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    """The count grew, but by another sender's message: ours was not applied, so it is sent."""
    fake.on("POST", MESSAGES, error(503, "internal_error", "restarting"), ACCEPTED)
    fake.on("GET", EXPORT, _users("one", "two", "not ours"))
    run(ops.send_message(SID, "hi", turn=TurnKey.of(2, "hi")))
    assert len(fake.sent("POST", MESSAGES)) == 2


@pytest.mark.parametrize("lost", [fail(httpx.ReadTimeout), error(500, "internal_error", "boom")])
def test_send_without_baseline_raises_outcome_unknown(
    fake: FakeMix, run: Runner, waits: list[float], lost: Outcome
) -> None:
    fake.on("POST", MESSAGES, lost, ACCEPTED)
    with pytest.raises(MixOutcomeUnknownError, match="without a baseline") as info:
        run(ops.send_message(SID, "hi"), max_retries=5)
    assert info.value.__cause__ is not None
    assert len(fake.requests) == 1 and waits == []


def test_send_not_sent_is_retried_without_baseline(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", MESSAGES, fail(httpx.ConnectError), ACCEPTED)
    assert run(ops.send_message(SID, "hi")).status == "processing"
    assert len(fake.sent("POST", MESSAGES)) == 2


def test_timed_out_send_not_counted_is_not_resent(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", MESSAGES, fail(httpx.ReadTimeout), ACCEPTED)
    fake.on("GET", EXPORT, _users("one", "two"))
    with pytest.raises(MixOutcomeUnknownError, match="may still apply it"):
        run(ops.send_message(SID, "hi", turn=TurnKey.of(2, "hi")))
    assert len(fake.sent("POST", MESSAGES)) == 1


def test_send_to_deleted_session_raises_not_found(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", MESSAGES, fail(httpx.ReadTimeout))
    fake.on("GET", EXPORT, error(404, "not_found", "gone"))
    with pytest.raises(MixNotFoundError):
        run(ops.send_message(SID, "hi", turn=TurnKey.of(0, "hi")))
    assert len(fake.sent("POST", MESSAGES)) == 1
