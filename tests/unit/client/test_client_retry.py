"""Retries of transient failures: which failures, how many attempts, and how long each wait is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from mix_fake import FakeMix, Outcome, Runner, answer, error, fail

from mix_provider.client import operations as ops
from mix_provider.client.responses import parse_retry_after
from mix_provider.errors import (
    MixAPIError,
    MixBadRequestError,
    MixMalformedResponseError,
    MixNotFoundError,
    MixRateLimitedError,
    MixServerError,
    MixTransportError,
    MixUnauthorizedError,
)

HEALTH = {"status": "ok", "version": "9.9.9"}

TRANSIENT_EXCEPTIONS = [
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.PoolTimeout,
]


@pytest.mark.parametrize("exc_type", TRANSIENT_EXCEPTIONS)
def test_transport_failures_are_retried(fake: FakeMix, run: Runner, waits: list[float], exc_type: type) -> None:
    fake.on("GET", "/health", fail(exc_type), fail(exc_type), answer(200, HEALTH))
    assert run(ops.health(), max_retries=3).version == "9.9.9"
    assert len(fake.requests) == 3
    assert len(waits) == 2


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(fake: FakeMix, run: Runner, waits: list[float], status: int) -> None:
    fake.on("GET", "/health", error(status, "internal_error", "busy"), answer(200, HEALTH))
    assert run(ops.health(), max_retries=3).status == "ok"
    assert len(fake.requests) == 2
    assert len(waits) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, MixBadRequestError), (401, MixUnauthorizedError), (403, MixUnauthorizedError), (404, MixNotFoundError)],
)
def test_permanent_errors_fail_fast(
    fake: FakeMix, run: Runner, waits: list[float], status: int, cls: type[MixAPIError]
) -> None:
    fake.on("GET", "/api/sessions/s-1", error(status, "x", "no"), answer(200, {"id": "s-1"}))
    with pytest.raises(cls):
        run(ops.get_session("s-1"), max_retries=5)
    assert len(fake.requests) == 1
    assert waits == []


def test_exhausted_retries_raise_the_last_error(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", fail(httpx.ConnectError), error(503, "internal_error", "still down"))
    with pytest.raises(MixServerError, match="still down"):
        run(ops.health(), max_retries=3)
    assert len(fake.requests) == 4
    assert len(waits) == 3


def test_exhausted_transport_retries_raise_transport_error(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", fail(httpx.ConnectError))
    with pytest.raises(MixTransportError) as info:
        run(ops.health(), max_retries=2)
    assert info.value.sent is False and "ConnectError" in str(info.value)
    assert len(fake.requests) == 3


def test_zero_retries_means_one_attempt(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", error(503, "internal_error", "down"))
    with pytest.raises(MixServerError):
        run(ops.health(), max_retries=0)
    assert len(fake.requests) == 1 and waits == []


def test_malformed_idempotent_answer_is_retried(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", answer(200, b"{not json"), answer(200, HEALTH))
    assert run(ops.health()).version == "9.9.9"
    fake.on("GET", "/api/sessions", answer(200, b"[{"))
    with pytest.raises(MixMalformedResponseError):
        run(ops.list_sessions(), max_retries=1)
    assert len(fake.sent("GET", "/api/sessions")) == 2


def test_backoff_grows_exponentially_with_jitter(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", fail(httpx.ConnectError))
    with pytest.raises(MixTransportError):
        run(ops.health(), max_retries=5, initial_wait=0.5, multiplier=2.0, max_wait=30.0)
    assert len(waits) == 5
    for attempt, wait in enumerate(waits):
        full = 0.5 * 2.0**attempt
        assert full / 2 <= wait <= full, (attempt, waits)
    assert waits == sorted(waits)


def test_backoff_is_capped_by_max_wait(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", fail(httpx.ReadTimeout))
    with pytest.raises(MixTransportError):
        run(ops.health(), max_retries=4, initial_wait=1.0, multiplier=10.0, max_wait=3.0)
    assert all(w <= 3.0 for w in waits)
    assert all(w >= 1.5 for w in waits[1:])


@pytest.mark.parametrize(
    ("header", "max_wait", "expected"),
    [("1.5", 30.0, 1.5), ("7", 30.0, 7.0), ("120", 2.5, 2.5), ("0", 30.0, 0.0)],
)
def test_retry_after_seconds_are_honoured(
    fake: FakeMix, run: Runner, waits: list[float], header: str, max_wait: float, expected: float
) -> None:
    fake.on("GET", "/health", error(429, "rate_limited", "slow down", headers={"Retry-After": header}))
    fake.on("GET", "/health", answer(200, HEALTH))
    run(ops.health(), max_wait=max_wait, initial_wait=0.01)
    assert waits == [expected]


def test_retry_after_http_date_is_honoured(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=4), usegmt=True)
    late = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    fake.on("GET", "/health", error(503, "internal_error", "maintenance", headers={"Retry-After": soon}))
    fake.on("GET", "/health", error(503, "internal_error", "maintenance", headers={"Retry-After": late}))
    fake.on("GET", "/health", answer(200, HEALTH))
    run(ops.health(), max_wait=10.0, initial_wait=0.01)
    assert len(waits) == 2
    assert 2.0 < waits[0] <= 4.0  # the date has second precision
    assert waits[1] == 10.0  # an hour away, capped by max_wait


def test_rate_limited_error_carries_retry_after(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/health", error(429, "rate_limited", "slow", headers={"Retry-After": "3"}))
    with pytest.raises(MixRateLimitedError) as info:
        run(ops.health(), max_retries=1)
    assert info.value.retry_after == 3.0
    assert waits == [3.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("-4", 0.0),
        ("2.25", 2.25),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc)
    assert parse_retry_after(value, now=now) == expected


def test_retry_attempts_are_logged(
    fake: FakeMix, run: Runner, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("GET", "/health", error(503, "internal_error", "down"), answer(200, HEALTH))
    with caplog.at_level("WARNING", logger="mix_provider.client"):
        run(ops.health(), max_retries=2, initial_wait=0.01)
    assert any("GET /health attempt 1/3 failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "lost",
    [fail(httpx.RemoteProtocolError), fail(httpx.ReadTimeout), error(502, "internal_error", "bad gateway")],
    ids=["reset", "timeout", "502"],
)
def test_a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_it_gone(
    fake: FakeMix, run: Runner, waits: list[float], lost: Outcome
) -> None:
    fake.on("DELETE", "/api/sessions/s-1", lost, error(404, "not_found", "Session with ID 's-1' not found"))
    assert run(ops.delete_session("s-1"), max_retries=3) is None
    assert len(fake.requests) == 2


@pytest.mark.parametrize("first", [error(404, "not_found", "gone"), error(429, "bad_request", "slow down")])
def test_a_delete_of_a_missing_session_still_fails(
    fake: FakeMix, run: Runner, waits: list[float], first: Outcome
) -> None:
    """Not found on the first attempt, or after an attempt the server refused unprocessed (429): not ours."""
    fake.on("DELETE", "/api/sessions/s-1", first, error(404, "not_found", "gone"))
    with pytest.raises(MixNotFoundError):
        run(ops.delete_session("s-1"), max_retries=3)
