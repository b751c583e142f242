"""The runs of a transcript, rebuilt from the order the server lists its messages in.

A real Mix server accepts messages while a run is in progress and runs them concurrently, storing a
tool run as several messages (assistant ``tool_use`` -> ``tool`` results -> assistant) as each round
happens (``mix_agent/internal/llm/agent/agent.go``: ``processGeneration``, ``streamAndHandleEvents``).
Overlapping runs therefore interleave in the transcript, and no stored message names the run it
belongs to. Each run is a chain: user -> assistant -> (tool -> assistant)*. :class:`Runs` takes the
messages one at a time, giving each assistant or tool message to a run waiting for one.

Session callbacks run inside a run, after the tool results (``agent.go`` ``streamAndHandleEvents``,
``mix_agent/internal/llm/callbacks/executor.go`` ``Execute``): each stores a ``tool`` message with its
``CallbackResult``, and a ``send_message`` callback first stores a ``user`` message with its text,
which the agent answers in the same run. Such a user message is recognised by its text (digests of
the session's ``send_message`` texts) and belongs to the run whose tools caused it.

The real server orders messages by a ``created_at`` in whole seconds with no tie-break
(``db/sql/messages.sql`` ``ListMessagesBySession``): messages stored in the same second come in any
order. :func:`runs_of` takes one order of each second (a run's own steps in causal order), which is
enough for idleness; which run is *ours* is decided over every order (:mod:`.ties`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mix_provider.models import FinishReason

#: Finish reasons that leave the turn unfinished (the agent goes on after a tool).
NON_TERMINAL_FINISH = frozenset({FinishReason.TOOL_USE.value})


def digest(text: str) -> str:
    """The SHA-256 hex digest of ``text`` (how keys remember texts without holding them)."""
    return hashlib.sha256(text.encode()).hexdigest()


class TurnMessage(Protocol):
    """What the turn logic reads of a message: an :class:`~mix_provider.models.ExportMessage`, or the
    light :class:`~mix_provider.models.MessageRecord` a streamed scan keeps."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def tool_call_count(self) -> int: ...

    @property
    def created_at(self) -> datetime | None: ...

    @property
    def updated_at(self) -> datetime | None: ...


def is_final(message: TurnMessage) -> bool:
    """An assistant message with a terminal finish reason (anything but ``tool_use``)."""
    return (
        message.role == "assistant" and bool(message.finish_reason) and message.finish_reason not in NON_TERMINAL_FINISH
    )


@dataclass
class Turn:
    """One run: its user message, the messages given to it, whether another run overlapped it, whether
    its messages could be another run's (``ambiguous``), and the position of its latest message."""

    user_message_id: str
    user_content: str
    messages: list[TurnMessage] = field(default_factory=list)
    overlapped: bool = False
    ambiguous: bool = False
    stored_last: int = 0

    @property
    def finished(self) -> bool:
        """Whether the run's last message is a final assistant message."""
        return bool(self.messages) and is_final(self.messages[-1])

    def expects(self) -> str | None:
        """The role of the run's next message: ``assistant`` after the user or tool message, ``tool``
        after a ``tool_use`` round, None while a round is streaming or once the run is finished."""
        last = self.messages[-1] if self.messages else None
        if last is None or last.role in ("tool", "user"):
            return "assistant"
        if last.role == "assistant" and last.finish_reason in NON_TERMINAL_FINISH:
            return "tool"
        return None

    def between_rounds(self) -> bool:
        """Whether the run's tools have finished and its callbacks may be storing messages."""
        return bool(self.messages) and self.messages[-1].role in ("tool", "user")

    def shape(self) -> tuple[str | None, frozenset[str]]:
        """What tells two readings of the run apart for its reply: its final message (None: unfinished)
        and its assistant messages (tool and injected messages change nothing a reply reads)."""
        final = self.messages[-1].id if self.finished else None
        return final, frozenset(m.id for m in self.messages if m.role == "assistant")


class Runs:
    """Rebuilds the runs of a transcript one message at a time; only unfinished runs (``open``) can
    take a message, so each step looks at a few runs, not all.

    An assistant message goes to the waiting run whose user or tool message was stored last: the
    server starts the next round as soon as that message is stored, and a run that ended without an
    answer (cancelled during its tools, out of steps) waits for ever. A tool message is stored when a
    round's tools have finished, which nothing in the transcript dates: when several runs wait for
    one, it goes to the earliest, and all of them are marked ambiguous. Callback messages (a user
    message with an ``injected`` text; with ``callbacks``, a tool message after the results) go to
    the run between two rounds.
    """

    def __init__(self, injected: frozenset[str], callbacks: bool) -> None:
        self.runs: list[Turn] = []
        self.open: list[Turn] = []
        self.injected = injected
        self.callbacks = callbacks

    def clone(self) -> Runs:
        """An independent copy: open runs are copied, finished ones shared (nothing changes them)."""
        copy = Runs(self.injected, self.callbacks)
        twins = {id(run): dataclasses.replace(run, messages=list(run.messages)) for run in self.open}
        copy.runs = [twins.get(id(run), run) for run in self.runs]
        copy.open = [twins[id(run)] for run in self.open]
        return copy

    def signature(self, ours: str) -> Hashable:
        """What our run's reading and the rest of the transcript depend on: our run's messages, and what
        each open run waits for, in the order of their latest message (other runs are anonymous: which
        of them holds which message changes nothing for ours)."""
        waiting = tuple(
            (run.user_message_id == ours, run.expects(), run.between_rounds())
            for run in sorted(self.open, key=lambda run: run.stored_last)
        )
        mine = tuple((*run.shape(), run.ambiguous, run.overlapped) for run in self.runs if run.user_message_id == ours)
        return waiting, mine

    def is_injected(self, message: TurnMessage) -> bool:
        return message.role == "user" and bool(self.injected) and digest(message.content) in self.injected

    def starts_run(self, message: TurnMessage) -> bool:
        """A user message the client sent (not injected by a callback)."""
        return message.role == "user" and not self.is_injected(message)

    def candidates(self, message: TurnMessage) -> tuple[list[Turn], list[Turn]]:
        """The runs that could take ``message``: those it would continue first, then callback hosts."""
        hosts = [run for run in self.open if run.between_rounds()]
        if message.role == "user":
            return [], hosts if self.is_injected(message) else []
        if message.role == "assistant":
            return [run for run in self.open if run.expects() == "assistant"], []
        return [run for run in self.open if run.expects() == "tool"], hosts if self.callbacks else []

    def owner_of(self, message: TurnMessage) -> Turn | None:
        """The run ``message`` continues (None: a user message starting a run, or a message with no run)."""
        first, hosts = self.candidates(message)
        if message.role == "tool" and first:
            return first[0]
        together = first + hosts
        return max(together, key=lambda run: run.stored_last) if together else None

    def placeable(self, message: TurnMessage) -> bool:
        """Whether ``message`` can be taken now: it continues a run or starts one."""
        return self.starts_run(message) or self.owner_of(message) is not None

    def take(self, message: TurnMessage, position: int) -> None:
        """Give ``message`` to its run, or start a run with it (a user message no run takes)."""
        owner = self.owner_of(message)
        if owner is None:
            if message.role == "user":
                self._start(message, position)
            return
        first, hosts = self.candidates(message)
        if len(first) + len(hosts) > 1:
            for run in first + hosts:
                run.overlapped = True
                run.ambiguous = run.ambiguous or message.role == "tool"
        owner.messages.append(message)
        owner.stored_last = position
        if owner.finished:
            self.open.remove(owner)

    def _start(self, message: TurnMessage, position: int) -> None:
        for run in self.open:
            run.overlapped = True
        run = Turn(message.id, message.content, overlapped=bool(self.open), stored_last=position)
        self.runs.append(run)
        self.open.append(run)

    def next_of(self, pending: list[tuple[int, TurnMessage]]) -> tuple[int, TurnMessage]:
        """Which message of one second to take now: the first, in stored order, that continues a run or
        starts one (a sent user message). A run's messages listed before the next sent user message
        are taken in causal order (:func:`_causal_rank`). When none fits, the first (it starts a run,
        or goes nowhere)."""
        starts = [index for index, item in enumerate(pending) if self.starts_run(item[1])]
        window = pending[: starts[0]] if starts else pending
        for item in pending:
            owner = self.owner_of(item[1])
            if owner is None and self.starts_run(item[1]):
                return item
            if owner is not None:
                same = [other for other in window if self.owner_of(other[1]) is owner] or [item]
                return min(same, key=lambda other: _causal_rank(other[1]))
        return pending[0]

    def take_second(self, group: list[tuple[int, TurnMessage]]) -> None:
        """Take the messages of one second in the order :meth:`next_of` gives."""
        pending = list(group)
        while pending:
            chosen = self.next_of(pending) if len(pending) > 1 else pending[0]
            pending.remove(chosen)
            self.take(chosen[1], chosen[0])


def _causal_rank(message: TurnMessage) -> int:
    """Which message of one second comes first: a round's ``tool_use``, its results, callback messages,
    final replies."""
    if message.role == "assistant":
        return 0 if message.finish_reason in NON_TERMINAL_FINISH or not message.finish_reason else 3
    return 1 if message.role == "tool" else 2


def same_second(messages: Sequence[TurnMessage]) -> list[list[tuple[int, TurnMessage]]]:
    """The transcript cut into runs of messages with the same ``created_at`` (a message without one
    stands alone), with their positions."""
    groups: list[list[tuple[int, TurnMessage]]] = []
    for position, message in enumerate(messages):
        stamp = message.created_at
        if groups and stamp is not None and groups[-1][-1][1].created_at == stamp:
            groups[-1].append((position, message))
        else:
            groups.append([(position, message)])
    return groups


def runs_of(
    messages: Sequence[TurnMessage], injected: frozenset[str] = frozenset(), callbacks: bool = False
) -> list[Turn]:
    """The runs of a transcript, one per user message the client sent, each second taken in one
    causal order (:meth:`Runs.take_second`)."""
    builder = Runs(injected, callbacks)
    for group in same_second(messages):
        builder.take_second(group)
    return builder.runs
