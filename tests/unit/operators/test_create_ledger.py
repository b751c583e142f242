"""MixCreateSessionOperator and ``[mix] session_ledger``: a failed record is reported, never a failed
create, and a session an earlier try created and died before recording is recorded on re-attach."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider.operators.session import MixCreateSessionOperator
from support.fakes import FakeTI

SID = "33333333-3333-4333-8333-333333333333"
CREATED = {"id": SID, "title": "nightly", "createdAt": "2026-01-01T00:00:00Z"}


class FakeStore(dict[str, Any]):
    """The ``task_state_store`` accessor: get / set / delete."""

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def _server(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(201, json=CREATED)
    return httpx.Response(200, json=[CREATED])


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW__MIX__SESSION_LEDGER", f"file://{tmp_path}")
    return tmp_path / "mix_default"


def test_a_record_that_fails_after_the_create_is_in_the_result(
    attach: Callable[[Any], Any], recorder: Any, ledger: Path
) -> None:
    recorder.handler = _server
    (ledger / f"{SID}.json").mkdir(parents=True)  # the object's name is taken: the write fails
    ti = FakeTI()
    assert attach(MixCreateSessionOperator(task_id="c", title="nightly")).execute({"ti": ti}) == SID
    assert "IsADirectoryError" in ti.pushed["session"]["ledger_error"]


def test_a_create_that_died_before_recording_is_recorded_on_reattach(
    attach: Callable[[Any], Any], recorder: Any, ledger: Path
) -> None:
    recorder.handler = _server
    store = FakeStore(mix_created_session={"title": "nightly", "since": "2026-01-01T00:00:00+00:00"})
    ti = FakeTI()
    assert (
        attach(MixCreateSessionOperator(task_id="c", title="nightly")).execute({"ti": ti, "task_state_store": store})
        == SID
    )
    assert [r.method for r in recorder.requests] == ["GET"], "found again, not created again"
    assert (ledger / f"{SID}.json").is_file() and "ledger_error" not in ti.pushed["session"]
