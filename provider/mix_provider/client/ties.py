"""Our run, read over every order the server may have stored one second's messages in.

The real server lists a session's messages ``ORDER BY created_at`` in whole seconds with no tie-break
(``mix_agent/internal/db/sql/messages.sql`` ``ListMessagesBySession``): the messages of one second
come in an order a client cannot rely on. Which run a message continues depends on that order when
several runs share a second (a turn sent right after another one, concurrent turns), so
:func:`readings` rebuilds the runs (:class:`~mix_provider.client.runs.Runs`) over *every* causal order
of each second from our user message's on, and returns each distinct reading of our run. The caller
returns a reply only when all readings agree (:func:`mix_provider.client.turns.find_turn`).

An order is causal when each message it takes continues a run or starts one; orders that leave
messages with no run are kept only when no order places them all. What the stream said narrows the
orders: messages known to be stored before our user message (``early``: read before it was sent)
must come before it.
Seconds before ours are read in one causal order (:meth:`Runs.take_second`): none of our messages
is in them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

from mix_provider.client.runs import Runs, Turn, TurnMessage, same_second

#: Partial orders of one second explored before giving up: the turn is then reported ambiguous
#: rather than read in a guessed order.
MAX_ORDERS = 5_000

Second = list[tuple[int, TurnMessage]]


def crowded(messages: Sequence[TurnMessage], after_user_messages: int, injected: frozenset[str] = frozenset()) -> bool:
    """Whether one second after the baseline's ``after_user_messages`` user messages holds more than one
    run start: only then can :func:`readings` explore many orders (up to :data:`MAX_ORDERS`), which is
    worth doing off an event loop. Turns sent one after the other never share a second
    (:func:`~mix_provider.client.wait.second_fence`)."""
    starts = Runs(injected, False)
    seconds: Counter[Hashable] = Counter()
    sent = 0
    for message in messages:
        if starts.starts_run(message):
            sent += 1
            if sent > after_user_messages and message.created_at is not None:
                seconds[message.created_at] += 1
                if seconds[message.created_at] > 1:
                    return True
    return False


class TooManyOrders(Exception):
    """A second holds too many interleaved runs to read every order of it."""


def readings(
    messages: Sequence[TurnMessage],
    ours: str,
    early: frozenset[str] = frozenset(),
    injected: frozenset[str] = frozenset(),
    callbacks: bool = False,
) -> list[Turn] | None:
    """Every distinct reading of the run our user message ``ours`` started; None when a second has
    too many orders to read (:data:`MAX_ORDERS`). ``early`` messages were stored before ours; when no
    order keeps them there (the hint contradicts the transcript), it is ignored."""
    groups = same_second(messages)
    start = next((index for index, group in enumerate(groups) if any(m.id == ours for _, m in group)), None)
    if start is None:
        return []
    builder = Runs(injected, callbacks)
    for group in groups[:start]:
        builder.take_second(group)
    try:
        found = _ours(_from(builder, groups[start:], ours, early), ours)
        return found or (_ours(_from(builder, groups[start:], ours, frozenset()), ours) if early else found)
    except TooManyOrders:
        return None


def _ours(states: list[Runs], ours: str) -> list[Turn]:
    return [run for state in states for run in state.runs if run.user_message_id == ours]


def _from(builder: Runs, groups: list[Second], ours: str, early: frozenset[str]) -> list[Runs]:
    states = [builder]
    for group in groups:
        states = _every_order(states, group, ours, early)
    return states


def _every_order(states: list[Runs], group: Second, ours: str, early: frozenset[str]) -> list[Runs]:
    """The distinct states after taking ``group`` in every causal order from each of ``states``,
    keeping those that leave the fewest messages without a run. One message of each kind
    (:func:`_kind`) is tried at each step."""
    ends: dict[Hashable, tuple[int, Runs]] = {}
    seen: set[Hashable] = set()
    base = group[0][0]
    kinds = [_kind(states[0], message, ours, early) for _, message in group]
    for state in states:
        stack = [(state, frozenset(range(len(group))))]
        while stack:
            current, left = stack.pop()
            memo = (tuple(sorted(Counter(kinds[i] for i in left).items(), key=repr)), current.signature(ours))
            if memo in seen:
                continue
            seen.add(memo)
            if len(seen) > MAX_ORDERS:
                raise TooManyOrders
            placed = not any(group[index][1].id == ours for index in left)
            pending_early = any(group[index][1].id in early for index in left)
            options = {
                kinds[i]: i
                for i in sorted(left, reverse=True)
                if _fits(current, group[i][1], placed, early) and not (pending_early and group[i][1].id == ours)
            }
            if options:
                stack.extend(_children(current, group, left, list(options.values()), base))
            elif not (placed and any(group[i][1].id in early for i in left)):
                signature = current.signature(ours)
                if signature not in ends or len(left) < ends[signature][0]:
                    ends[signature] = (len(left), current)
    fewest = min((orphans for orphans, _ in ends.values()), default=0)
    return [state for orphans, state in ends.values() if orphans == fewest]


def _fits(state: Runs, message: TurnMessage, placed: bool, early: frozenset[str]) -> bool:
    """Whether ``message`` can be taken now. An early message comes before our user message, and never
    after a message of its second that was not early in the same run (it was stored after the read,
    and a run's rounds happen in time order)."""
    if message.id not in early:
        return state.placeable(message)
    owner = state.owner_of(message)
    if placed or owner is None:
        return False
    return all(m.id in early for m in owner.messages if m.role == "assistant" and m.created_at == message.created_at)


def _kind(runs: Runs, message: TurnMessage, ours: str, early: frozenset[str]) -> Hashable:
    """Messages of one kind are interchangeable for our run's reading (other runs are anonymous): tool
    messages, sent user messages other than ours, injected ones of one text, and early assistant
    messages of one finish reason and tool call count (none of them can be ours). Every other message
    is its own kind."""
    if message.role == "tool":
        return "tool"
    if message.role == "user":
        return message.id if message.id == ours else ("user", runs.is_injected(message) and message.content)
    if message.id in early:
        return ("early", message.finish_reason, message.tool_call_count)
    return message.id


def _children(
    state: Runs, group: Second, left: frozenset[int], options: list[int], base: int
) -> list[tuple[Runs, frozenset[int]]]:
    step = base + len(group) - len(left)
    children = []
    for index in options:
        child = state.clone()
        child.take(group[index][1], step)
        children.append((child, left - {index}))
    return children
