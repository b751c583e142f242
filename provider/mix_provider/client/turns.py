"""Which messages of a transcript are the turn started by *our* message, and whether it has finished.

A real Mix server accepts messages while a run is in progress and runs them concurrently, storing a
tool run as several messages (assistant ``tool_use`` -> ``tool`` results -> assistant) as each round
happens (``mix_agent/internal/llm/agent/agent.go``: ``processGeneration``, ``streamAndHandleEvents``).
Overlapping runs therefore interleave in the transcript, and no stored message names the run it
belongs to. Each run is a chain: user -> assistant -> (tool -> assistant)*. :func:`runs_of` rebuilds
the chains in stored order, giving each assistant or tool message to the earliest run waiting for
one. That is exact when runs do not overlap; when they do, it follows the order the server stored
them in, and :attr:`Turn.overlapped` says so.

Session callbacks run inside a run, after the tool results (``mix_agent/internal/llm/agent/agent.go``
``streamAndHandleEvents``, ``mix_agent/internal/llm/callbacks/executor.go`` ``Execute``): each stores a
``tool`` message with its ``CallbackResult``, and a ``send_message`` callback first stores a ``user``
message with its text, which the agent answers in the same run. Such a user message is recognised by
its text (the key carries the digests of the session's ``send_message`` texts) and belongs to the run
whose tools caused it, like the callback ``tool`` messages.

The real server orders messages by a ``created_at`` in whole seconds with no tie-break
(``db/sql/messages.sql`` ``ListMessagesBySession``): messages stored in the same second come in any
order. :func:`runs_of` therefore takes each run's messages of one second in causal order (a
round's ``tool_use`` message, then tool results, then injected messages, then its final reply),
whatever order they are listed in.

Our user message is the first one after the baseline count whose text begins with the text we sent
(plan mode appends a system reminder); one stored in the same second as the baseline's last user
messages counts as after them (:func:`after_baseline`). Only a length and a hash of the text are
kept, so a turn key is small and holds no prompt text.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mix_provider.client.stream import StreamVerdict
from mix_provider.errors import MixReplyAmbiguousError
from mix_provider.models import Callback, CallbackType, FinishReason, SessionTotals

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


@dataclass(frozen=True)
class TurnKey:
    """Identifies our user message: the first after ``after_user_messages`` whose text begins with ours.

    Without a text fingerprint (``text_length`` None) the first user message after the baseline is ours.

    :param injected: digests of the texts the session's ``send_message`` callbacks inject
        (:func:`injected_texts`): user messages with such a text belong to the run that caused them.
    :param callbacks: the session has callbacks, so a ``tool`` message may be a callback's result.
    """

    after_user_messages: int
    text_length: int | None = None
    text_sha256: str | None = None
    injected: frozenset[str] = frozenset()
    callbacks: bool = False

    @classmethod
    def of(cls, after_user_messages: int, text: str, callbacks: Sequence[Callback] | None = None) -> TurnKey:
        """The key of ``text`` sent when the session held ``after_user_messages`` user messages and ``callbacks``."""
        return cls(after_user_messages, len(text), digest(text), injected_texts(callbacks), bool(callbacks))

    @classmethod
    def of_callbacks(cls, callbacks: Sequence[Callback] | None) -> TurnKey:
        """A key that matches no message of ours but knows the session's ``callbacks``: the runs of a
        whole session (idleness, finished runs) are rebuilt with it, and a scan with it keeps the text
        of injected user messages only."""
        return cls(sys.maxsize, 0, None, injected_texts(callbacks), bool(callbacks))

    def matches(self, content: str) -> bool:
        """Whether a user message's content is our text (possibly with something appended)."""
        if self.text_length is None:
            return True
        return len(content) >= self.text_length and digest(content[: self.text_length]) == self.text_sha256

    def may_be_in(self, user_message_count: int) -> bool:
        """Whether a session holding ``user_message_count`` user messages may hold ours: only once it
        holds more than it did before ours was sent (a cheap check before reading its transcript)."""
        return user_message_count > self.after_user_messages

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (task state, trigger kwargs)."""
        return {
            "after_user_messages": self.after_user_messages,
            "length": self.text_length,
            "sha256": self.text_sha256,
            "injected": sorted(self.injected),
            "callbacks": self.callbacks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnKey:
        """Inverse of :meth:`to_json` (keys saved by earlier releases lack the callback fields)."""
        length = data.get("length")
        injected = frozenset(str(item) for item in data.get("injected") or ())
        return cls(
            int(data["after_user_messages"]),
            None if length is None else int(length),
            data.get("sha256"),
            injected,
            bool(data.get("callbacks")),
        )


def injected_texts(callbacks: Sequence[Callback] | None) -> frozenset[str]:
    """Digests of the user messages the ``send_message`` callbacks of a session inject."""
    return frozenset(
        digest(cb.message_content)
        for cb in callbacks or ()
        if cb.type == CallbackType.SEND_MESSAGE and cb.message_content
    )


@dataclass
class Turn:
    """One run: its user message, the messages given to it, whether another run overlapped it, whether
    a tool message it may own went to another run or the reverse (``ambiguous``), and the position of
    its latest message in the transcript."""

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


class _Runs:
    """Rebuilds the runs of a transcript one message at a time (see :func:`runs_of`); only unfinished
    runs (``open``) can take a message, so each step looks at a few runs, not all."""

    def __init__(self, injected: frozenset[str], callbacks: bool) -> None:
        self.runs: list[Turn] = []
        self.open: list[Turn] = []
        self.injected = injected
        self.callbacks = callbacks

    def is_injected(self, message: TurnMessage) -> bool:
        return message.role == "user" and bool(self.injected) and digest(message.content) in self.injected

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
        are taken in causal order (:func:`_causal_rank`): the server lists a second's messages in any
        order, but a message listed after a user message may belong to that message's run. When none
        fits, the first (it starts a run, or goes nowhere)."""
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

    def starts_run(self, message: TurnMessage) -> bool:
        """A user message the client sent (not injected by a callback)."""
        return message.role == "user" and not self.is_injected(message)


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
    """The runs of a transcript, one per user message the client sent.

    An assistant message goes to the waiting run whose user or tool message was stored last: the
    server starts the next round as soon as that message is stored, and a run that ended without an
    answer (cancelled during its tools, out of steps) waits for ever. A tool message is stored when a
    round's tools have finished, which nothing in the transcript dates: when several runs wait for
    one, it goes to the earliest, and all of them are marked ambiguous. Callback messages (a user
    message with an ``injected`` text; with ``callbacks``, a tool message after the results) go to
    the run between two rounds. Messages of the same second are taken in stored order, except that
    a run's own steps are taken in causal order (:meth:`_Runs.next_of`).
    """
    builder = _Runs(injected, callbacks)
    for group in same_second(messages):
        pending = list(group)
        while pending:
            chosen = builder.next_of(pending) if len(pending) > 1 else pending[0]
            pending.remove(chosen)
            builder.take(chosen[1], chosen[0])
    return builder.runs


def after_baseline(messages: Sequence[TurnMessage], key: TurnKey) -> tuple[set[str], set[str]]:
    """Ids of the user messages that may be ours: those stored after the baseline's
    ``after_user_messages`` user messages, then those stored before them in the same second as the
    first one after them (listed in no defined order, ours may come first)."""
    users = [message for message in messages if message.role == "user"]
    first_after = users[key.after_user_messages] if len(users) > key.after_user_messages else None
    tie = first_after.created_at if first_after is not None else None
    later = {message.id for message in users[key.after_user_messages :]}
    tied = {m.id for m in users[: key.after_user_messages] if tie is not None and m.created_at == tie}
    return later, tied


def find_turn(messages: Sequence[TurnMessage], key: TurnKey) -> Turn | None:
    """Our run in ``messages``, or None while our user message is not stored."""
    runs = runs_of(messages, key.injected, key.callbacks)
    for pool in after_baseline(messages, key):
        for run in runs:
            if run.user_message_id in pool and key.matches(run.user_content):
                return run
    return None


@dataclass(frozen=True)
class Reply:
    """The agent's answer to one user message, read from the transcript.

    :param message_id: the turn's final assistant message.
    :param text: that message's text.
    :param finish_reason: its finish reason.
    :param tool_calls: tool calls made over the whole turn.
    :param user_message_id: the user message that started the turn.
    :param overlapped: another run was in progress during this one, so its messages were told apart
        by the order the server stored them in (see the module docstring).
    :param totals: the session's counts and usage, read with the reply (None when not read).
    :param steps: the turn's tool rounds (assistant messages that called tools), what ``max_steps`` caps.
    :param assistant_ids: the turn's assistant messages, whose per-message usage is the turn's tokens.
    """

    message_id: str
    text: str
    finish_reason: str | None
    tool_calls: int
    user_message_id: str = ""
    overlapped: bool = False
    totals: SessionTotals | None = None
    steps: int = 0
    assistant_ids: tuple[str, ...] = ()


def tool_calls_of(turn: Turn) -> int:
    """Tool calls made over the whole turn (by its assistant messages)."""
    return sum(m.tool_call_count for m in turn.messages if m.role == "assistant")


def assistant_ids_of(turn: Turn) -> tuple[str, ...]:
    """The turn's assistant messages (every round's), in the order they were given to it."""
    return tuple(m.id for m in turn.messages if m.role == "assistant")


def steps_of(turn: Turn) -> int:
    """The turn's tool rounds: its assistant messages that called tools (``agent.go`` ``processGeneration``
    counts one step per such round and, past ``max_steps``, ends the run on the last one as ``canceled``)."""
    return sum(1 for m in turn.messages if m.role == "assistant" and m.tool_call_count)


def reply_of(turn: Turn) -> Reply | None:
    """The turn's reply once its last message is a final assistant message, else None."""
    if not turn.finished:
        return None
    last = turn.messages[-1]
    return Reply(
        message_id=last.id,
        text=last.content,
        finish_reason=last.finish_reason,
        tool_calls=tool_calls_of(turn),
        user_message_id=turn.user_message_id,
        overlapped=turn.overlapped,
        steps=steps_of(turn),
        assistant_ids=assistant_ids_of(turn),
    )


def settled_reply(turn: Turn, session_id: str = "") -> Reply | None:
    """:func:`reply_of` ``turn``, refusing a turn whose messages cannot be told apart from another run's.

    :raises MixReplyAmbiguousError: overlapping tool runs made our turn's messages ambiguous (never a
        guess returned as our reply).
    """
    if turn.ambiguous:
        raise MixReplyAmbiguousError(session_id, turn.user_message_id)
    return reply_of(turn)


def finished_reply(messages: Sequence[TurnMessage], key: TurnKey, session_id: str = "") -> Reply | None:
    """The reply to our message once its turn has finished, else None (see :func:`settled_reply`)."""
    turn = find_turn(messages, key)
    return None if turn is None else settled_reply(turn, session_id)


#: How the real server words the ``error`` event that ends a cancelled run: ``agent.ErrRequestCancelled``
#: while a reply streams, Go's ``context.Canceled`` while the run's tools run.
CANCELLED_PREFIXES = ("request cancelled", "context canceled")
#: How the real server words the ``error`` event of a run stopped by ``max_steps``; it finishes the
#: last ``tool_use`` message as ``canceled`` (``agent.go`` ``processGeneration``).
STEP_LIMIT_PREFIX = "maximum iteration limit"


def reply_after(
    verdict: StreamVerdict, messages: Sequence[TurnMessage], key: TurnKey, session_id: str = ""
) -> Reply | None:
    """The reply once the stream said a run ended: from the transcript, or the stream's error.

    An error that arrives before our user message is stored, or while other runs overlap ours, cannot
    be told to be ours: the transcript decides then.
    """
    turn = find_turn(messages, key)
    if turn is None:
        return None
    reply = settled_reply(turn, session_id)
    if reply is None and verdict.error is not None and not turn.overlapped:
        cancelled = verdict.error.startswith((*CANCELLED_PREFIXES, STEP_LIMIT_PREFIX))
        return Reply(
            message_id=verdict.message_id or "",
            text=verdict.error,
            finish_reason=(FinishReason.CANCELED if cancelled else FinishReason.ERROR).value,
            tool_calls=tool_calls_of(turn),
            user_message_id=turn.user_message_id,
            steps=steps_of(turn),
            assistant_ids=assistant_ids_of(turn),
        )
    return reply


#: How long a run may wait for the assistant message after its tool results before it counts as ended.
#: The server starts the next round as soon as the results are stored; a run cancelled while its
#: tools ran stores its (error) results and nothing after them (``agent.go`` ``processGeneration``).
STALLED_AFTER = timedelta(seconds=30)


def has_ended(run: Turn, now: datetime) -> bool:
    """Whether ``run`` is over: finished, or stalled after its tool results for :data:`STALLED_AFTER`."""
    if run.finished:
        return True
    last = run.messages[-1] if run.messages else None
    stored = last and (last.updated_at or last.created_at)
    return bool(last and last.role == "tool" and stored and now - stored >= STALLED_AFTER)


def session_runs(messages: Sequence[TurnMessage], key: TurnKey | None = None) -> list[Turn]:
    """:func:`runs_of` with the callbacks ``key`` knows (:meth:`TurnKey.of_callbacks`): the user
    messages the session's ``send_message`` callbacks inject and its callback ``tool`` messages belong
    to the run that caused them. Without them, an injected message looks like a new run and the run
    that caused it like one stalled after its tools."""
    return runs_of(messages, key.injected, key.callbacks) if key is not None else runs_of(messages)


def finished_turns(messages: Sequence[TurnMessage], key: TurnKey | None = None) -> list[str]:
    """The final assistant message ids of the transcript's finished runs, in the order runs started.

    Runs are rebuilt as :func:`session_runs` does, so a run that finishes after a later one (the server
    runs messages concurrently) is reported too, once, its callbacks' messages included.
    """
    return [run.messages[-1].id for run in session_runs(messages, key) if run.finished]


class Transcript(Protocol):
    """What idleness reads of a transcript: an :class:`~mix_provider.models.ExportSession` or a
    :class:`~mix_provider.client.scan.ScannedTranscript`."""

    @property
    def messages(self) -> Sequence[TurnMessage]: ...


def is_idle(export: Transcript, now: datetime | None = None, key: TurnKey | None = None) -> bool:
    """Whether no run is in progress: every run of the transcript (:func:`session_runs` with the
    callbacks ``key`` knows) has ended (see :func:`has_ended`)."""
    moment = now or datetime.now(timezone.utc)
    return all(has_ended(run, moment) for run in session_runs(export.messages, key))
