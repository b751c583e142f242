"""Secrets of a ``mix`` connection never reach task logs or exception messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from mix_provider.errors import MixError, MixServerError, MixUnauthorizedError
from mix_provider.hooks.mix import MixHook

TOKEN = "tok-Zq8sVx31-secret"
HEADER_VALUE = "hdr-Lp02Wm77-secret"
SECRETS = (TOKEN, HEADER_VALUE)


class EchoingProxy:
    """A misbehaving proxy echoing the request's headers in its errors.

    ``/health`` is fine; ``/api/sessions`` answers a plain-text 502; other paths answer 503 the
    first time (so the client retries) and 401 after.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        echo = f"Authorization: {request.headers['authorization']}; X-Api-Key: {request.headers['x-api-key']}"
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok", "version": "1.0"})
        if request.url.path == "/api/sessions":
            return httpx.Response(502, text=f"bad gateway for request with {echo}")
        status, kind = (401, "unauthorized") if request.url.path in self.paths else (503, "internal_error")
        self.paths.append(request.url.path)
        return httpx.Response(status, json={"error": {"code": status, "message": f"refused {echo}", "type": kind}})


@pytest.fixture
def hook(mix_conn: Callable[..., str]) -> Iterator[MixHook]:
    """A hook on a connection holding both secrets, talking to :class:`EchoingProxy` with one fast retry."""
    extra = {"headers": {"X-Api-Key": HEADER_VALUE}, "max_retries": 1, "retry_max_wait": 0}
    conn_id = mix_conn("mix_masking", password=TOKEN, extra=extra)
    with MixHook(conn_id, transport=httpx.MockTransport(EchoingProxy())) as mix_hook:
        yield mix_hook


def test_secrets_stay_out_of_logs_and_errors(
    hook: MixHook, debug_masked_logging: None, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("mix_provider"), "level", logging.DEBUG)
    errors: list[MixError] = []
    assert hook.health().status == "ok"
    for call in (lambda: hook.get_session("s-1"), hook.list_sessions):
        with pytest.raises(MixError) as info:
            call()
        errors.append(info.value)
    hook.log.info("the hook logs its token %s and header %s", TOKEN, HEADER_VALUE)
    out, err = capfd.readouterr()
    logged = out + err

    assert [type(e) for e in errors] == [MixUnauthorizedError, MixServerError]
    assert "Mix GET /health -> 200" in logged  # debug lines are there
    assert "attempt 1/2 failed" in logged  # and retry warnings, which carry the error text
    assert "the hook logs its token *** and header ***" in logged  # the masker is active
    for secret in SECRETS:
        assert secret not in logged
        for exc in errors:
            assert secret not in str(exc) and secret not in repr(exc)
            assert secret not in str(exc.__cause__ or "")
    assert "refused Authorization: Bearer ***; X-Api-Key: ***" in str(errors[0])


def test_test_connection_message_has_no_secrets(mix_conn: Callable[..., str]) -> None:
    conn_id = mix_conn("mix_masking_test", password=TOKEN, extra={"headers": {"X-Api-Key": HEADER_VALUE}})

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"token {request.headers['authorization']} refused")

    ok, message = MixHook(conn_id, transport=httpx.MockTransport(refuse)).test_connection()
    assert ok is False and "refused" in message
    assert TOKEN not in message and HEADER_VALUE not in message
