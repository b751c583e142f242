"""Finding every session when ``GET /api/sessions`` shows only the newest twenty.

The newer server's list is ``ListSessionsWithContent`` (``db/sql/sessions.sql``, commit 8963d55c):
``LIMIT 20``, all counts 0, sub-agents dropped after the limit; ``GET /api/messages/history``
(``ListUserMessageHistory``) pages through every session's user messages, newest first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mix_fake import config

from mix_provider.client import AsyncMixClient, MixClient
from mix_provider.client.inventory import HISTORY_PAGE, LIST_CAP, Listing, survey
from mix_provider.client.operations import Plan
from mix_provider.errors import MixServerError


def session(index: int, *, counts: bool, subagent: bool = False) -> dict[str, Any]:
    count = 1 if counts else 0
    return {
        "id": f"s{index:04d}",
        "title": f"t{index}",
        "createdAt": f"2026-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}Z",
        "userMessageCount": count,
        "assistantMessageCount": count,
        "toolCallCount": 0,
        "sessionType": "subagent" if subagent else "main",
    }


class Server:
    """``total`` sessions (the last ``subagents`` of them sub-agents), each with ``per`` user messages but
    the first (oldest) ``empty``, which hold none."""

    def __init__(
        self, total: int, *, capped: bool, history: bool = True, per: int = 3, subagents: int = 0, empty: int = 0
    ) -> None:
        self.sessions = [session(i, counts=not capped, subagent=i >= total - subagents) for i in range(total)]
        self.capped, self.history, self.per = capped, history, per
        self.empty = {s["id"] for s in self.sessions[:empty]}
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/api/sessions":
            newest = list(reversed(self.sessions))
            rows = newest[:LIST_CAP] if self.capped else newest
            if request.url.params.get("includeSubagents") != "true":
                rows = [s for s in rows if s["sessionType"] == "main"]
            return httpx.Response(200, json=rows)
        if request.url.path == "/api/messages/history" and self.history:
            limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
            messages = [
                {"id": f"{s['id']}-u{n}", "sessionId": s["id"], "role": "user", "userInput": "hi"}
                for s in reversed(self.sessions)
                if s["id"] not in self.empty
                for n in range(self.per)
            ]
            return httpx.Response(200, json=messages[offset : offset + limit])
        return httpx.Response(404, json={"error": {"code": 404, "message": "not found", "type": "not_found"}})


@pytest.fixture(params=["sync", "async"])
def execute(request: pytest.FixtureRequest) -> Callable[[Server, Plan[Listing]], Listing]:
    def _run(server: Server, plan: Plan[Listing]) -> Listing:
        if request.param == "sync":
            with MixClient(config(), transport=httpx.MockTransport(server)) as client:
                return client.run(plan)

        async def _main() -> Listing:
            async with AsyncMixClient(config(), transport=httpx.MockTransport(server)) as client:
                return await client.run(plan)

        return asyncio.run(_main())

    return _run


def test_an_older_server_lists_everything_in_one_call(execute: Any) -> None:
    server = Server(60, capped=False)
    listing = execute(server, survey())
    assert len(listing.listed) == 60 and listing.beyond == [] and listing.complete
    assert not listing.capped and not listing.countless and server.paths == ["/api/sessions"]


def test_the_capped_list_is_completed_through_the_history(execute: Any) -> None:
    server = Server(60, capped=True)
    listing = execute(server, survey())
    listed = {s.id for s in listing.listed}
    assert len(listed) == LIST_CAP and listing.capped and listing.countless and listing.complete
    assert listed | set(listing.beyond) == {s["id"] for s in server.sessions}, "every session was found"
    assert not listed & set(listing.beyond)
    summary = listing.summary()
    assert summary.pop("empty_unseen") == listing.empty_unseen is not None, "named even when none is missing"
    assert summary == {"capped": True, "beyond_list": 40, "complete": True, "unseen": None}


def test_the_history_is_read_page_by_page_to_its_end(execute: Any) -> None:
    server = Server(700, capped=True, per=3)  # 2100 user messages: three pages
    listing = execute(server, survey())
    assert len(listing.listed) + len(listing.beyond) == 700
    assert server.paths.count("/api/messages/history") == 3 and HISTORY_PAGE == 1000


def test_without_a_history_endpoint_the_cap_is_named_with_the_remedy(execute: Any) -> None:
    server = Server(60, capped=True, history=False)
    listing = execute(server, survey(known=["s0001", "s0059"]))
    assert not listing.complete and listing.beyond == ["s0001"], "a known id beyond the list is still looked up"
    assert "only its 20 newest sessions" in (listing.unseen or "") and "session_ids" in (listing.unseen or "")


def test_sub_agents_dropped_after_the_limit_do_not_hide_the_cap(execute: Any) -> None:
    """With sub-agents among the newest twenty, the main-session list is shorter than the cap."""
    server = Server(60, capped=True, subagents=5)
    listing = execute(server, survey())
    assert len(listing.listed) == LIST_CAP - 5 and listing.capped and listing.complete
    found = {s.id for s in listing.listed} | set(listing.beyond)
    assert found == {s["id"] for s in server.sessions if s["sessionType"] == "main"}, "the listed sub-agents stay out"


def test_twenty_sessions_with_counts_are_an_older_server_not_a_cap(execute: Any) -> None:
    server = Server(LIST_CAP, capped=False)
    listing = execute(server, survey())
    assert not listing.capped and "/api/messages/history" not in server.paths


def test_a_failing_history_fails_the_survey(execute: Any) -> None:
    server = Server(60, capped=True)

    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/messages/history":
            return httpx.Response(500, json={"error": {"code": 500, "message": "db", "type": "internal_error"}})
        return server(request)

    with pytest.raises(MixServerError):
        execute(broken, survey())


def test_sessions_without_a_user_message_beyond_the_list_are_named_not_passed_over(execute: Any) -> None:
    """``ListUserMessageHistory`` selects ``role = 'user'`` rows only: a session never sent a message is
    in no page of the history, so beyond the newest twenty nothing shows it."""
    server = Server(25, capped=True, empty=3)
    listing = execute(server, survey())
    assert listing.complete, "every session holding a transcript was found"
    found = {s.id for s in listing.listed} | set(listing.beyond)
    assert found == {s["id"] for s in server.sessions} - server.empty
    remedy = listing.empty_unseen or ""
    assert "hold no user message" in remedy and "[mix] session_ledger" in remedy, remedy
    assert listing.summary()["empty_unseen"] == remedy


def test_ledger_ids_find_the_sessions_without_messages(execute: Any) -> None:
    server = Server(25, capped=True, empty=3)
    listing = execute(server, survey(known=sorted(server.empty), ledger=True))
    assert {s.id for s in listing.listed} | set(listing.beyond) == {s["id"] for s in server.sessions}
    assert set(listing.beyond) >= server.empty and listing.ledger
    assert "created outside the provider" in (listing.empty_unseen or ""), "the rest is still named"


def test_an_uncapped_list_leaves_nothing_unseen(execute: Any) -> None:
    listing = execute(Server(25, capped=False, empty=3), survey())
    assert len(listing.listed) == 25 and listing.empty_unseen is None and listing.summary()["empty_unseen"] is None


def test_without_a_history_endpoint_the_remedy_names_the_ledger(execute: Any) -> None:
    listing = execute(Server(60, capped=True, history=False), survey())
    assert "[mix] session_ledger" in (listing.unseen or "")
