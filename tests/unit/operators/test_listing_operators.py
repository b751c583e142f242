"""The list and archive operators see every session, also on a server that lists only its newest twenty.

The newer server's ``GET /api/sessions`` is ``ListSessionsWithContent`` (``db/sql/sessions.sql``,
commit 8963d55c): ``LIMIT 20``, counts 0. The others are found through ``GET /api/messages/history``
(``ListUserMessageHistory``) and the archive's manifest, or the task ends naming the cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider.errors import MixConfigError, MixListingIncompleteError
from mix_provider.hooks.mix import MixHook
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.session import MixListSessionsOperator
from support.fakes import ListingServer


def attached(operator: Any, server: ListingServer) -> Any:
    operator.__dict__["hook"] = MixHook(operator.mix_conn_id, max_retries=0, transport=httpx.MockTransport(server))
    return operator


@pytest.fixture(autouse=True)
def _conn(recorder: Any) -> None:
    """``mix_default`` defined (the recorder fixture does it)."""


def archive(tmp_path: Path, server: ListingServer, **kwargs: Any) -> dict[str, Any]:
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{tmp_path}", compression=None, **kwargs)
    return attached(op, server).execute({})  # type: ignore[no-any-return]


@pytest.mark.parametrize("capped", [True, False], ids=["current", "legacy"])
def test_archiving_60_sessions_archives_all_60(tmp_path: Path, capped: bool) -> None:
    server = ListingServer(60, capped=capped)
    result = archive(tmp_path, server)
    assert result["archived"] == 60 and result["failed"] == 0
    assert len(list(tmp_path.glob("s*.jsonl"))) == 60
    listing = result["listing"]
    assert (listing.pop("empty_unseen") is not None) is capped, "a capped list names what it cannot show"
    assert listing == {"capped": capped, "beyond_list": 40 if capped else 0, "complete": True, "unseen": None}


def test_a_second_run_on_the_capped_server_skips_by_real_counts_without_exporting(tmp_path: Path) -> None:
    """Count-less list entries cannot tell a change: each session is read for its counts instead."""
    archive(tmp_path, ListingServer(60, capped=True))
    server = ListingServer(60, capped=True)
    result = archive(tmp_path, server)
    assert (result["archived"], result["skipped"]) == (0, 60)
    assert not any(path.endswith("/export") for path in server.paths)
    server = ListingServer(60, capped=True, per=3)  # every session got a message
    assert archive(tmp_path, server)["archived"] == 60


def test_without_a_history_the_archive_ends_naming_the_cap(tmp_path: Path) -> None:
    server = ListingServer(60, capped=True, history=False)
    with pytest.raises(MixListingIncompleteError, match="only its 20 newest sessions") as info:
        archive(tmp_path, server)
    assert "session_ids" in info.value.unseen
    assert len(list(tmp_path.glob("s*.jsonl"))) == 20, "what was found is archived before failing"
    result = archive(tmp_path, ListingServer(60, capped=True, history=False), on_incomplete="warn")
    assert result["listing"]["complete"] is False and result["skipped"] == 20


def test_the_manifest_keeps_sessions_beyond_the_cap_in_view(tmp_path: Path) -> None:
    """Sessions archived while the server still had them in view are looked up by id later."""
    archive(tmp_path, ListingServer(30, capped=False))
    server = ListingServer(30, capped=True, history=False, per=3)
    result = archive(tmp_path, server, on_incomplete="warn")
    assert result["archived"] == 30 and result["listing"]["beyond_list"] == 10


def test_a_created_window_applies_to_sessions_found_beyond_the_list(tmp_path: Path) -> None:
    result = archive(tmp_path, ListingServer(60, capped=True), created_before="2026-01-01T00:00:10Z")
    assert result["archived"] == 10


@pytest.mark.parametrize("capped", [True, False], ids=["current", "legacy"])
def test_listing_every_session(capped: bool) -> None:
    op = attached(MixListSessionsOperator(task_id="list"), ListingServer(60, capped=capped))
    assert sorted(op.execute({})) == [f"s{i:04d}" for i in range(60)]


def test_listing_without_a_history_fails_or_warns() -> None:
    server = ListingServer(60, capped=True, history=False)
    with pytest.raises(MixListingIncompleteError):
        attached(MixListSessionsOperator(task_id="list"), server).execute({})
    op = attached(MixListSessionsOperator(task_id="list", on_incomplete="warn"), server)
    assert len(op.execute({})) == 20


def test_on_incomplete_is_checked_at_parse_time() -> None:
    with pytest.raises(MixConfigError, match="on_incomplete: 'skip' is not one of: fail, warn"):
        MixListSessionsOperator(task_id="list", on_incomplete="skip")
    with pytest.raises(MixConfigError, match="on_incomplete"):
        MixArchiveSessionsOperator(task_id="a", base_path="file:///tmp/x", on_incomplete=None)
