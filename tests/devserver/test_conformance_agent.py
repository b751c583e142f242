"""Conformance with the real Mix *agent* (what runs behind the handlers), on both generations.

Each test names the Go source it follows as ``<file>::<function>`` (paths from
``mix_agent/internal/``) and the commit read; ``current`` is the newest source, ``legacy`` the
older generation (``--generation legacy``). The index is in ``docs/devserver.md``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait

CURRENT_LIST = "db/sql/sessions.sql::ListSessionsWithContent @ 8963d55c"
LEGACY_LIST = "db/sql/sessions.sql::ListSessionsWithContent @ 29eda156"
COUNTS = ("userMessageCount", "assistantMessageCount", "toolCallCount")


def _listed(server: MixDevServer, include_subagents: bool = False) -> list[dict[str, Any]]:
    params = {"includeSubagents": "true"} if include_subagents else {}
    response = httpx.get(f"{server.base_url}/api/sessions", params=params)
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()
    return result


async def _sessions_with_a_subagent(server: MixDevServer, seeded: int) -> tuple[list[str], str, str]:
    """``seeded`` small sessions, then a parent whose turn runs a sub-agent (the newest session)."""
    ids = server.seed_sessions(seeded, messages=2, message_bytes=10)
    with httpx.Client(base_url=server.base_url) as http:
        parent = create_session(http, "parent")
        await send_and_wait(server.base_url, parent, "delegate [[subagent]]")
        (child,) = [s["id"] for s in _listed(server, True) if s.get("parentSessionId") == parent]
    return ids, parent, child


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_listing_is_the_20_newest_without_counts(fresh_mix_server: MixDevServer) -> None:
    """``db/sql/sessions.sql::ListSessionsWithContent`` (8963d55c): ``ORDER BY created_at DESC LIMIT
    20`` with the three counts selected as 0; ``http/rest_sessions.go::HandleListSessions`` drops
    sub-agent sessions *after* the limit, so the default list has 19 here. ``GetSessionByID`` still
    counts."""
    ids, parent, child = await _sessions_with_a_subagent(fresh_mix_server, 30)
    everything = _listed(fresh_mix_server, include_subagents=True)
    assert [s["id"] for s in everything] == [child, parent, *reversed(ids[-18:])]
    assert all(s[count] == 0 for s in everything for count in COUNTS)
    default = _listed(fresh_mix_server)
    assert [s["id"] for s in default] == [parent, *reversed(ids[-18:])]
    got = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{parent}").json()
    assert (got["userMessageCount"], got["assistantMessageCount"]) == (1, 2)


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
async def test_legacy_listing_is_every_session_with_counts(fresh_mix_server: MixDevServer) -> None:
    """``db/sql/sessions.sql::ListSessionsWithContent`` (29eda156): no limit, real counts."""
    ids, parent, child = await _sessions_with_a_subagent(fresh_mix_server, 30)
    default = _listed(fresh_mix_server)
    assert [s["id"] for s in default] == [*ids, parent]
    assert default[-1]["userMessageCount"] == 1 and default[0]["assistantMessageCount"] == 1
    assert {s["id"] for s in _listed(fresh_mix_server, True)} == {*ids, parent, child}
