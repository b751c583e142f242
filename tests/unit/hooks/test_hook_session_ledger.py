"""The session ledger (``[mix] session_ledger``): sessions created through MixHook are recorded, one
object each, and a survey of a capped server finds them even while they hold no message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider import defaults
from mix_provider.errors import MixConfigError, MixNotFoundError
from mix_provider.get_provider_info import get_provider_info
from mix_provider.hooks.mix import MixHook
from support.fakes import ListingServer

ENV = "AIRFLOW__MIX__SESSION_LEDGER"


@pytest.fixture
def conn(mix_conn: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv(ENV, raising=False)
    return str(mix_conn("mix_ledger"))


def hook(conn_id: str, server: Any) -> MixHook:
    return MixHook(conn_id, max_retries=0, transport=httpx.MockTransport(server))


def test_the_option_is_declared_once_with_its_default(conn: str) -> None:
    option = get_provider_info()["config"]["mix"]["options"][defaults.SESSION_LEDGER_OPTION[1]]
    assert option["default"] == defaults.SESSION_LEDGER == ""
    assert hook(conn, ListingServer(1, capped=False)).session_ledger is None, "off by default"


def test_a_create_is_recorded_one_object_per_session(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"file://{tmp_path}/ledger")
    server = ListingServer(5, capped=False, empty=2)
    mix = hook(conn, server)
    first, second = mix.create_session("a"), mix.create_session("b")
    objects = sorted((tmp_path / "ledger" / conn).iterdir())
    assert [p.name for p in objects] == [".writable", f"{first.id}.json", f"{second.id}.json"]
    objects = objects[1:]
    record = json.loads(objects[0].read_text())
    assert record["session_id"] == first.id and record["created_at"] == "2026-01-01T00:00:00+00:00"
    assert "dag_id" not in record, "outside a task there are no task ids to record"
    assert sorted(mix.ledger_ids()) == [first.id, second.id] and mix.unrecorded == {}
    mix.delete_session(first.id)
    assert list(mix.ledger_ids()) == [second.id], "a deleted session is forgotten"
    (tmp_path / "ledger" / conn / "s0099.json").write_text("{}")
    with pytest.raises(MixNotFoundError):
        mix.delete_session("s0099")
    assert list(mix.ledger_ids()) == [second.id], "one deleted elsewhere is forgotten too"


def test_an_unusable_ledger_fails_before_any_session_exists(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv(ENV, f"file://{tmp_path}/a-file/ledger")
    server = ListingServer(5, capped=False, empty=2)
    with pytest.raises(MixConfigError, match=r"\[mix\] session_ledger: cannot write to"):
        hook(conn, server).create_session("a")
    assert server.created == 0 and server.paths == [], "refused before the create was sent"


def test_a_url_without_a_filesystem_is_refused_naming_the_option(conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "nosuchfs://bucket/ledger")
    with pytest.raises(MixConfigError, match=r"\[mix\] session_ledger"):
        hook(conn, ListingServer(1, capped=False)).create_session("a")


def test_a_failed_record_after_the_create_is_reported_not_raised(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, f"file://{tmp_path}")
    (tmp_path / conn / "s0000.json").mkdir(parents=True)  # the object's name is taken by a directory
    mix = hook(conn, ListingServer(5, capped=False, empty=2))
    session = mix.create_session("a")
    assert session.id == "s0000", "the session exists and is returned"
    assert "IsADirectoryError" in mix.unrecorded["s0000"]
    logged = capfd.readouterr().out
    assert "warning" in logged and "s0000 was created but not recorded in [mix] session_ledger" in logged


@pytest.mark.parametrize("ledger", [True, False], ids=["ledger", "no-ledger"])
def test_a_survey_finds_empty_sessions_beyond_the_cap_only_through_the_ledger(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: bool
) -> None:
    """25 sessions, the 3 oldest created through the hook and never sent a message: the capped list
    shows the 20 newest, the history the 22 with messages; the ledger names the other 3."""
    if ledger:
        monkeypatch.setenv(ENV, f"file://{tmp_path}")
    server = ListingServer(25, capped=True, empty=3)
    mix = hook(conn, server)
    created = {mix.create_session(f"empty {n}").id for n in range(3)}
    listing = mix.survey_sessions()
    found = {s.id for s in listing.listed} | set(listing.beyond)
    assert listing.complete and listing.ledger is ledger
    if ledger:
        assert found == {f"s{i:04d}" for i in range(25)}, "every session, the empty ones through the ledger"
        assert "created outside the provider" in (listing.empty_unseen or "")
    else:
        assert found.isdisjoint(created) and len(found) == 22
        assert "Set [mix] session_ledger" in (listing.empty_unseen or ""), "what may be unseen, and the remedy"


def test_ledger_ids_are_not_looked_up_when_the_list_shows_everything(
    conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"file://{tmp_path}")
    (tmp_path / conn).mkdir()
    (tmp_path / conn / "s9999.json").write_text("{}")
    server = ListingServer(25, capped=False)
    listing = hook(conn, server).survey_sessions()
    assert len(listing.listed) == 25 and listing.beyond == [] and listing.empty_unseen is None
    assert server.paths == ["/api/sessions"]
