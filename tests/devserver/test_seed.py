"""Bulk seeding and touching sessions through the control plane (scale tests rely on both)."""

from __future__ import annotations

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
def test_bulk_seeded_sessions_are_listed_with_their_totals(fresh_mix_server: MixDevServer) -> None:
    """On the legacy generation, which lists every session with its counts (the current one lists 20)."""
    ids = fresh_mix_server.seed_sessions(300, messages=3, message_bytes=10, title_prefix="bulk")
    listed = httpx.get(f"{fresh_mix_server.base_url}/api/sessions").json()
    assert [s["id"] for s in listed] == ids and len(set(ids)) == 300
    assert (listed[7]["title"], listed[7]["userMessageCount"], listed[7]["assistantMessageCount"]) == ("bulk 7", 2, 1)
    export = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{ids[7]}/export").json()
    assert [m["role"] for m in export["messages"]] == ["user", "assistant", "user"]
    assert export["promptTokens"] == listed[7]["promptTokens"] > 0


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
def test_touching_changes_exactly_the_given_sessions(fresh_mix_server: MixDevServer) -> None:
    ids = fresh_mix_server.seed_sessions(5)
    before = {s["id"]: s for s in httpx.get(f"{fresh_mix_server.base_url}/api/sessions").json()}
    assert fresh_mix_server.touch_sessions(ids[1:3]) == 2
    after = {s["id"]: s for s in httpx.get(f"{fresh_mix_server.base_url}/api/sessions").json()}
    changed = [sid for sid in ids if after[sid] != before[sid]]
    assert changed == ids[1:3] and after[ids[1]]["userMessageCount"] == 2


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("seed/sessions", {"count": -1}, 400),
        ("seed/sessions", {"count": 1, "messages": "2"}, 400),
        ("seed/touch", {"ids": "x"}, 400),
        ("seed/touch", {"ids": ["no-such-session"]}, 404),
    ],
)
def test_bad_seed_requests_are_refused(fresh_mix_server: MixDevServer, path: str, body: object, status: int) -> None:
    response = httpx.post(f"{fresh_mix_server.base_url}/_devserver/{path}", json=body)
    assert response.status_code == status
