"""Rewinding away a turn whatever order the server lists its second in.

The real rewind keeps the messages *listed* up to the one rewound to (``rest_sessions.go``
``HandleRewindSession`` -> ``DeleteAfterIndex``, recreate-run/mix 95264f66), and one second's messages
are listed in no defined order (``messages.sql`` ``ListMessagesBySession``). For every listed order of
a shared second, :mod:`mix_provider.client.rewind` must either name a message whose listed prefix is
exactly the earlier turns, or refuse: never a cut into the turn before, never a kept piece of the
dropped turn. From the read before sending the cut is exact whenever the listing allows one.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from test_client_callback_turns import CALLBACKS, at
from test_client_ties import run_rows
from test_client_turns import assistant, messages, user

from mix_provider.client.rewind import kept_before_send, kept_before_turn, listed_cut
from mix_provider.client.turns import TurnKey
from mix_provider.errors import MixRewindAmbiguousError

HISTORY = [at(user("h-u", "earlier"), 1), at(assistant("h-a", "earlier answer"), 1)]


def cut(listed: list[dict[str, Any]], first: str, reply: str | None = None, key: TurnKey | None = None) -> str | None:
    """From the transcript alone."""
    key = key or TurnKey.of_callbacks(None)
    rows = messages(*listed)
    kept = kept_before_turn("s", rows, first, reply_id=reply, injected=key.injected, callbacks=key.callbacks)
    return listed_cut("s", rows, kept, first)


def cut_pinned(listed: list[dict[str, Any]], first: str, stored: set[str]) -> str | None:
    """From what the wait read before sending: the ids of the last second it saw."""
    rows = messages(*listed)
    return listed_cut("s", rows, kept_before_send("s", rows, stored, first), first)


def kept_by(listed: list[dict[str, Any]], target: str) -> set[str]:
    """What the server keeps when rewound to ``target``: the listed prefix up to it."""
    ids = [row["id"] for row in listed]
    return set(ids[: ids.index(target) + 1])


def orders(size: int) -> list[tuple[int, ...]]:
    """Every order of ``size`` messages, or 500 seeded ones of more than 6."""
    every = itertools.permutations(range(size))
    if size <= 6:
        return list(every)
    rng = random.Random(size)
    return [tuple(rng.sample(range(size), size)) for _ in range(500)]


def pinned_cut(listed: list[dict[str, Any]]) -> str | None:
    """What was read before ours was sent: the turn before, ending in second 2."""
    return cut_pinned(listed, "o-u", {"p-tu", "p-t", "p-final"})


@pytest.mark.parametrize("kind", ["plain", "tool"])
@pytest.mark.parametrize("pinned", [True, False], ids=["reply-pinned", "no-pin"])
def test_every_listed_order_of_a_shared_second_cuts_exactly_or_refuses(kind: str, pinned: bool) -> None:
    """The turn before (started in second 1, with a tool round) ends in the second ours starts in:
    every listed order of that second."""
    before = run_rows("p", "tool")
    ours = run_rows("o", kind)
    shared = [*before[1:], *ours]
    wanted = {"h-u", "h-a", *(row["id"] for row in before)}
    possible = exact = 0
    for order in orders(len(shared)):
        listed = [*HISTORY, at(before[0], 1), *(at(shared[i], 2) for i in order)]
        ids = [row["id"] for row in listed]
        possible += set(ids[: len(wanted)]) == wanted
        for from_read in (False, True):
            try:
                target = pinned_cut(listed) if from_read else cut(listed, "o-u", "o-final" if pinned else None)
            except MixRewindAmbiguousError as error:
                assert error.first_dropped == "o-u"
                continue
            assert target is not None and kept_by(listed, target) == wanted
            exact += 1
    assert exact >= possible > 0  # read before sending: every order that allows an exact cut gets it


def test_a_whole_turn_before_in_our_second_is_refused() -> None:
    """Which of two user messages of one second came first is unknown: neither turn can be cut away."""
    listed = [*HISTORY, *(at(row, 2) for row in [*run_rows("p", "plain"), *run_rows("o", "plain")])]
    with pytest.raises(MixRewindAmbiguousError, match="another turn starts in the same second"):
        cut(listed, "o-u", "o-final")


@pytest.mark.parametrize("kind", ["plain", "tool", "callbacks"])
def test_a_turn_in_its_own_seconds_is_cut_at_the_turn_before(kind: str) -> None:
    """Ours starts in a second of its own: cut at the turn before, whatever order its second is in."""
    ours = [at(row, 3 + index // 2) for index, row in enumerate(run_rows("o", kind))]
    key = TurnKey.of(1, "text of o", CALLBACKS if kind == "callbacks" else None)
    for order in itertools.permutations(ours[:2]):  # its reply may be listed before it
        assert cut([*HISTORY, *order, *ours[2:]], "o-u", "o-final", key) == "h-a"


def test_the_first_turn_has_nothing_to_keep() -> None:
    assert cut([at(user("o-u", "x"), 1), at(assistant("o-f", "y"), 1)], "o-u") is None


def test_an_unknown_message_is_refused() -> None:
    with pytest.raises(MixRewindAmbiguousError, match="not in the session"):
        cut(HISTORY, "nope")


def test_read_before_sending_cuts_at_a_second_boundary_in_any_order() -> None:
    """The turn before ended a second earlier: whatever order ours is listed in, the cut is exact."""
    ours = run_rows("o", "tool")
    for order in itertools.permutations(ours):
        listed = [*HISTORY, *(at(row, 2) for row in order)]
        assert cut_pinned(listed, "o-u", {"h-u", "h-a"}) == "h-a"


def test_read_before_sending_refuses_when_the_session_changed() -> None:
    listed = [*HISTORY, at(user("o-u", "x"), 2)]
    with pytest.raises(MixRewindAmbiguousError, match="have changed"):
        cut_pinned(listed, "o-u", {"h-u", "gone"})
