"""MixRewindSessionOperator: target choice, ``message_to_keep``, and ``cleanupMedia`` always on the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mix_provider.errors import MixConfigError, MixRewindAmbiguousError
from mix_provider.models import ExportMessage
from mix_provider.operators.rewind import MixRewindSessionOperator, message_to_keep

Attach = Callable[[Any], Any]
SID = "s1"


def transcript(roles: str) -> list[ExportMessage]:
    """Messages ``m0``, ``m1``... with roles from the letters of ``roles`` (u=user, a=assistant, t=tool)."""
    names = {"u": "user", "a": "assistant", "t": "tool"}
    return [ExportMessage(id=f"m{i}", role=names[r]) for i, r in enumerate(roles)]


@pytest.mark.parametrize(
    ("roles", "keep", "expected"),
    [("uaua", 1, "m0"), ("uaua", 3, "m2"), ("uaua", 4, "m3"), ("u", 1, "m0")],
)
def test_keep_first_messages(roles: str, keep: int, expected: str) -> None:
    assert message_to_keep(SID, transcript(roles), keep=keep, drop_turns=None) == expected


def test_keep_more_than_there_are() -> None:
    with pytest.raises(MixConfigError, match=r"keep_messages: is 5 but the session has 4 messages"):
        message_to_keep(SID, transcript("uaua"), keep=5, drop_turns=None)


@pytest.mark.parametrize(
    ("roles", "turns", "expected"),
    [
        ("uaua", 1, "m1"),
        ("uauaua", 2, "m1"),
        ("uaaauaa", 1, "m3"),  # a turn runs from its user message to the next one
        ("uau", 1, "m1"),  # the last turn is still running
        ("auaua", 1, "m2"),  # a transcript may open with an assistant message
        ("uatauata", 1, "m3"),  # a tool run (assistant, tool results, assistant) belongs to its turn
    ],
)
def test_drop_last_turns(roles: str, turns: int, expected: str) -> None:
    assert message_to_keep(SID, transcript(roles), keep=None, drop_turns=turns) == expected


@pytest.mark.parametrize(
    ("roles", "turns"), [("ua", 1), ("uaua", 2), ("uaua", 3), ("", 1), ("aa", 1), ("auaua", 2), ("uatauata", 2)]
)
def test_drop_every_turn_is_refused(roles: str, turns: int) -> None:
    with pytest.raises(MixConfigError, match="drop_last_turns") as info:
        message_to_keep(SID, transcript(roles), keep=None, drop_turns=turns)
    assert "at least one must remain" in str(info.value)


@pytest.mark.parametrize(
    "targets",
    [{}, {"message_id": "m1", "keep_messages": 2}, {"keep_messages": 1, "drop_last_turns": 1}],
    ids=["none", "id-and-count", "count-and-turns"],
)
def test_exactly_one_target(targets: dict[str, Any]) -> None:
    with pytest.raises(MixConfigError) as info:
        MixRewindSessionOperator(task_id="rewind", session_id=SID, **targets)
    assert all(name in str(info.value) for name in ("message_id", "keep_messages", "drop_last_turns"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"keep_messages": 0}, "keep_messages"),
        ({"drop_last_turns": 0}, "drop_last_turns"),
        ({"drop_last_turns": "2"}, "drop_last_turns"),
        ({"message_id": "m1", "cleanup_media": "yes"}, "cleanup_media"),
    ],
)
def test_bad_numbers_and_flags(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        MixRewindSessionOperator(task_id="rewind", session_id=SID, **kwargs)
    assert info.value.field == field


def _serve_transcript(roles: str) -> Callable[[httpx.Request], httpx.Response]:
    messages = [{"id": m.id, "role": m.role, "content": ""} for m in transcript(roles)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/export"):
            return httpx.Response(200, json={"id": SID, "messages": messages})
        return httpx.Response(200, json={"id": SID, "userMessageCount": 1})

    return handler


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"drop_last_turns": 2}, "drop_last_turns"), ({"keep_messages": 3}, "keep_messages")]
)
def test_target_beyond_the_transcript_is_refused_before_rewinding(
    attach: Attach, recorder: Any, kwargs: dict[str, Any], field: str
) -> None:
    recorder.handler = _serve_transcript("ua")
    with pytest.raises(MixConfigError) as info:
        attach(MixRewindSessionOperator(task_id="rewind", session_id=SID, **kwargs)).execute({})
    assert info.value.field == field
    assert all(r.method == "GET" for r in recorder.requests)  # read the transcript (and callbacks), no rewind


@pytest.mark.parametrize("cleanup", [False, True])
def test_cleanup_media_is_always_sent(attach: Attach, recorder: Any, cleanup: bool) -> None:
    recorder.handler = _serve_transcript("uaua")
    result = attach(
        MixRewindSessionOperator(task_id="rewind", session_id=SID, drop_last_turns=1, cleanup_media=cleanup)
    ).execute({})
    assert recorder.bodies("POST", "/rewind") == [{"messageId": "m1", "cleanupMedia": cleanup}]
    assert result["rewound_to"] == "m1"


def test_rewind_by_id_reads_nothing_first(attach: Attach, recorder: Any) -> None:
    attach(MixRewindSessionOperator(task_id="rewind", session_id=SID, message_id="m7")).execute({})
    assert [(r.method, r.url.path) for r in recorder.requests] == [("POST", f"/api/sessions/{SID}/rewind")]
    assert recorder.bodies("POST", "/rewind") == [{"messageId": "m7", "cleanupMedia": False}]


def test_keeping_part_of_a_second_is_refused() -> None:
    """The server lists one second's messages in no defined order: "the first 2" of a second of 3 is no
    particular message."""
    rows = [
        ExportMessage(id=f"m{i}", role=role, createdAt=f"2026-01-01T00:00:0{second}Z")
        for i, (role, second) in enumerate([("user", 1), ("assistant", 2), ("user", 2), ("assistant", 3)])
    ]
    assert message_to_keep(SID, rows, keep=1, drop_turns=None) == "m0"
    with pytest.raises(MixRewindAmbiguousError, match="shares its second"):
        message_to_keep(SID, rows, keep=2, drop_turns=None)
    assert message_to_keep(SID, rows, keep=3, drop_turns=None) == "m2"
