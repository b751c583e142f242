"""Our turn whatever order the server lists one second's messages in.

``db/sql/messages.sql`` ``ListMessagesBySession`` (recreate-run/mix, ``mix_agent/internal``) orders by a
``created_at`` in whole seconds with no tie-break. Seeded random transcripts: 2-3 whole runs (plain,
with a tool round, with callbacks) stored in one second, listed in random orders. Reading ours must
give its own final reply or :class:`~mix_provider.errors.MixReplyAmbiguousError`, never another run's;
with what the wait read before sending (:class:`~mix_provider.client.turns.TurnPins`), sequential
turns sharing a second are told apart.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from test_client_callback_turns import CALLBACKS, at
from test_client_turns import assistant, messages, tool, user

from mix_provider.client import StreamEvent, TurnKey
from mix_provider.client.ties import MAX_ORDERS
from mix_provider.client.turns import Reply, find_turn, finished_reply
from mix_provider.errors import MixReplyAmbiguousError


def run_rows(name: str, kind: str) -> list[dict[str, Any]]:
    """One whole run's messages in the order the server stores them."""
    rows = [user(f"{name}-u", f"text of {name}")]
    if kind != "plain":
        rows += [assistant(f"{name}-tu", "", "tool_use", calls=1), tool(f"{name}-t")]
    if kind == "callbacks":
        rows += [user(f"{name}-inj", "Now summarise."), tool(f"{name}-cb1"), tool(f"{name}-cb2")]
    return [*rows, assistant(f"{name}-final", f"answer of {name}")]


def interleaved(rng: random.Random, runs: list[list[dict[str, Any]]], sequential: bool) -> list[dict[str, Any]]:
    """A storage order of whole runs: one after the other, or interleaved as concurrent runs are."""
    if sequential:
        return [row for rows in runs for row in rows]
    queues = [list(rows) for rows in runs]
    order = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        order.append(queue.pop(0))
    return order


def key_of(stored: list[dict[str, Any]], name: str) -> TurnKey:
    """Our key as sent: the user messages stored before ours make the baseline."""
    ours = next(i for i, row in enumerate(stored) if row["id"] == f"{name}-u")
    before = sum(1 for row in stored[:ours] if row["role"] == "user" and row["content"] != "Now summarise.")
    return TurnKey.of(before, f"text of {name}", CALLBACKS)


def sent(key: TurnKey, stored: list[dict[str, Any]], name: str) -> TurnKey:
    """The key after a wait that read the transcript just before sending and saw our user message
    announced on the stream."""
    ours = next(i for i, row in enumerate(stored) if row["id"] == f"{name}-u")
    key.pins.remember(messages(*[row if "createdAt" in row else at(row, 2) for row in stored[:ours]]))
    key.observe(StreamEvent("user_message_created", {"messageId": f"{name}-u", "content": f"text of {name}"}))
    return key


def outcome(rows: list[dict[str, Any]], key: TurnKey) -> str | None:
    try:
        reply = finished_reply(messages(*rows), key, "s")
    except MixReplyAmbiguousError:
        return "ambiguous"
    return None if reply is None else reply.message_id


def scenario(seed: int, sequential: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Whole runs stored in one second after an earlier turn: their storage order and a listed order."""
    rng = random.Random(seed)
    names = ["a", "b", "c"][: rng.choice((2, 3))]
    stored = interleaved(rng, [run_rows(n, rng.choice(("plain", "tool", "callbacks"))) for n in names], sequential)
    history = [at(user("h-u", "earlier"), 1), at(assistant("h-a", "earlier answer"), 1)]
    listed = [at(row, 2) for row in rng.sample(stored, len(stored))]
    return history + stored, history + listed, names


def at_complete(stored: list[dict[str, Any]], listed: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """What a wait reads when our run's ``complete`` arrives: the messages stored up to our final."""
    final = next(i for i, row in enumerate(stored) if row["id"] == f"{name}-final")
    kept = {row["id"] for row in stored[: final + 1]}
    return [row for row in listed if row["id"] in kept]


@pytest.mark.parametrize("sequential", [True, False], ids=["sequential", "concurrent"])
@pytest.mark.parametrize("seed", range(30))
def test_a_shuffled_second_never_yields_another_runs_reply(seed: int, sequential: bool) -> None:
    """Read late or at our ``complete``, with or without the stream: ours, ambiguous, or not yet."""
    stored, listed, names = scenario(seed, sequential)
    for name in names:
        now = at_complete(stored, listed, name)
        assert outcome(listed, key_of(stored, name)) in (f"{name}-final", "ambiguous", None)
        assert outcome(listed, sent(key_of(stored, name), stored, name)) in (f"{name}-final", "ambiguous", None)
        assert outcome(now, sent(key_of(stored, name), stored, name)) in (f"{name}-final", "ambiguous", None)


@pytest.mark.parametrize("seed", range(120))
def test_sequential_turns_in_one_second_are_told_apart_by_the_read_before_sending(seed: int) -> None:
    """Turns sent one after the other, each by a wait that read the transcript before sending."""
    stored, listed, names = scenario(seed, sequential=True)
    for name in names:
        now = at_complete(stored, listed, name)
        assert outcome(now, sent(key_of(stored, name), stored, name)) == f"{name}-final"


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_two_plain_turns_in_one_second_every_listed_order(order: tuple[int, ...]) -> None:
    """From the transcript alone two answers of one second cannot be told apart; with the read
    before sending, always."""
    stored = [user("a-u", "text of a"), assistant("a-final", "1"), user("b-u", "text of b"), assistant("b-final", "2")]
    listed = [at(stored[i], 5) for i in order]
    assert outcome(listed, TurnKey.of(1, "text of b")) == "ambiguous"
    assert outcome(listed, sent(TurnKey.of(1, "text of b"), stored, "b")) == "b-final"


def test_the_pinned_user_message_wins_over_the_text() -> None:
    """Two user messages with our text after the baseline: the one the stream announced is ours."""
    rows = [user("x-u", "same"), assistant("x-a", "first"), user("y-u", "same"), assistant("y-a", "second")]
    key = TurnKey.of(0, "same")
    key.observe(StreamEvent("user_message_created", {"messageId": "y-u", "content": "same"}))
    assert outcome(rows, key) == "y-a"
    assert TurnKey.from_json(key.to_json()).pins.user_message_id == "y-u", "the pin is kept in the key's JSON"


def test_a_nested_or_injected_user_message_is_never_pinned() -> None:
    key = TurnKey.of(0, "Now summarise.", CALLBACKS[:1])
    key.observe(StreamEvent("user_message_created", {"messageId": "i", "content": "Now summarise."}))
    other = TurnKey.of(0, "ours")
    other.observe(StreamEvent("user_message_created", {"messageId": "n", "content": "ours", "parentToolCallId": "t"}))
    assert key.pins.user_message_id is None and other.pins.user_message_id is None


def test_a_pinned_reply_selects_the_reading() -> None:
    """After deferral a key pinned with its reply reads the turn the wait found, not a guess."""
    stored = [user("a-u", "text of a"), assistant("a-final", "1"), user("b-u", "text of b"), assistant("b-final", "2")]
    listed = [at(row, 5) for row in stored]
    key = TurnKey.from_json({**TurnKey.of(1, "text of b").to_json(), "user_message_id": "b-u", "reply_id": "b-final"})
    reply = finished_reply(messages(*listed), key)
    assert isinstance(reply, Reply) and (reply.message_id, reply.user_message_id) == ("b-final", "b-u")


def test_too_many_orders_is_ambiguous_not_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mix_provider.client.ties.MAX_ORDERS", 3)
    rows = [at(row, 4) for row in run_rows("a", "tool") + run_rows("b", "plain")]
    turn = find_turn(messages(*rows), TurnKey.of(0, "text of a"))
    assert turn is not None and turn.ambiguous and MAX_ORDERS > 3
