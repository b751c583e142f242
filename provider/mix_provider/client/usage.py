"""A turn's baseline and usage: the session before our message, and what the turn spent since.

A session's ``cost`` is cumulative, but its ``promptTokens``/``completionTokens`` are those of the
*last* LLM call (the context size): ``llm/agent/agent.go`` ``TrackUsage`` (commit 1fa5f2d6) adds each
call's cost and assigns its tokens. So a turn's cost is the change of the session's cost since the
baseline, while its tokens are known only where the server reports them per message (the spec's
``inputTokens``/``outputTokens`` on ``GET /api/sessions/{id}/messages``; the real handlers read
do not send them, ``rest_messages.go`` ``convertMessagesToData``): summed over the turn's assistant
messages, or None. Never the difference of two last-call readings, which is no turn's spend (it can
be negative). :func:`turn_usage` is the one place that computes a turn's usage; the supervisor's
budget, the trigger's events, the operators' XCom and the managed agent all call it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from mix_provider.client import operations as ops
from mix_provider.client.ties import readings
from mix_provider.client.turns import TurnKey, TurnMessage, our_user_message
from mix_provider.models import BackendMessage, SessionTotals


class TurnBaseline(BaseModel):
    """What a session looked like before a message: its user message count and cumulative cost (small JSON).

    Missing fields read as zero, as a baseline taken from an empty session would. The token fields an
    earlier release saved (``prompt_tokens``, ``completion_tokens``: last-call counts, no baseline of
    anything) are ignored, so task state and trigger kwargs saved by it still load.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_messages: int = 0
    cost: float = 0.0

    @classmethod
    def of(cls, session: SessionTotals) -> TurnBaseline:
        """The baseline of ``session`` as the server reports it now."""
        return cls(user_messages=session.user_message_count, cost=session.cost)

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (task state, trigger kwargs, events), read back by :meth:`from_json`."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: TurnBaseline | Mapping[str, Any] | None) -> TurnBaseline:
        """Inverse of :meth:`to_json`; a baseline passes through, None is an empty session's."""
        if isinstance(data, TurnBaseline):
            return data
        return cls.model_validate(dict(data or {}))


class TurnUsage(BaseModel):
    """What one turn spent: tokens (None when the server's counts cannot tell) and cost in US dollars."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens, unknown counts read as zero."""
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def to_json(self) -> dict[str, Any]:
        """``{"prompt_tokens", "completion_tokens", "cost"}``, read back by :meth:`from_json`."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnUsage:
        """Inverse of :meth:`to_json`."""
        return cls.model_validate(dict(data))


#: The keys of :meth:`TurnUsage.to_json`, as a turn's result and XCom carry them.
USAGE_KEYS = tuple(TurnUsage.model_fields)


#: A turn's prompt and completion tokens, summed from per-message usage.
TurnTokens = tuple[int, int]


def message_tokens(found: Mapping[str, tuple[Any, Any]], ids: Collection[str]) -> TurnTokens | None:
    """The tokens of messages ``ids`` from their per-message ``(inputTokens, outputTokens)``: None
    unless every one of them was found with both counts."""
    if not ids:
        return None
    pairs = [found.get(message_id) for message_id in ids]
    if any(pair is None or not all(isinstance(n, int) for n in pair) for pair in pairs):
        return None
    return sum(pair[0] for pair in pairs if pair), sum(pair[1] for pair in pairs if pair)


#: Seconds one async client trusts what it last saw of the server's ``GET .../messages``: whether it
#: carries per-message usage at all. A server upgraded while a triggerer runs is believed after this.
USAGE_SHAPE_SECONDS = 300.0


class UsageShape:
    """Whether the server's ``GET /api/sessions/{id}/messages`` carries per-message usage, as one async
    client last saw it (a shared client serves every wait of a triggerer, :mod:`.shared`).

    The real handlers send none (``http/rest_messages.go`` ``convertMessagesToData`` @ 03ba11a7:
    ``MessageData`` has no token fields), so reading a finished turn's messages for its tokens finds
    none, at the price of a second whole-transcript request per turn for the client and the server.
    Once a read showed assistant messages without the fields, later reads are skipped (the tokens are
    None, as the read would have said) for :data:`USAGE_SHAPE_SECONDS`; while the shape is unknown,
    one read at a time finds it out (a thousand turns ending together make one read, not a thousand).
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._seen: tuple[bool, float] | None = None
        self._lock = asyncio.Lock()

    def carried(self) -> bool | None:
        """Whether the last read showed per-message usage; None when unknown or too old to trust."""
        if self._seen is None or self._clock() - self._seen[1] > USAGE_SHAPE_SECONDS:
            return None
        return self._seen[0]

    def saw(self, carried: bool | None) -> None:
        """What a read showed: usage fields on its assistant messages or not (None: none to tell)."""
        if carried is not None:
            self._seen = (carried, self._clock())

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Hold a read: one at a time while the shape is unknown, any number once it is known."""
        if self.carried() is not None:
            yield
            return
        async with self._lock:
            yield


def turn_usage(baseline: TurnBaseline, totals: SessionTotals, tokens: TurnTokens | None = None) -> TurnUsage:
    """The turn's usage: the change of the session's cumulative cost (rounded to 1e-10 dollars), and
    ``tokens`` from per-message usage (:func:`message_tokens`), None when the server reports none."""
    prompt, completion = tokens if tokens is not None else (None, None)
    return TurnUsage(prompt_tokens=prompt, completion_tokens=completion, cost=round(totals.cost - baseline.cost, 10))


@dataclass(frozen=True)
class UsageRead:
    """Read a running turn's usage for its budget: the session's totals, and, with ``tokens``, the
    per-message tokens of the assistant messages the budget counts (:func:`budget_ids`)."""

    tokens: bool


def budget_ids(messages: Sequence[TurnMessage], key: TurnKey) -> list[str]:
    """The assistant messages whose tokens a running turn's budget counts, in any tie order.

    The real server lists one second's messages in no defined order (``db/sql/messages.sql``
    ``ListMessagesBySession``): our run's first round is often listed before our user message, so
    counting by listed position misses it. These are the assistant messages of our run in every reading
    of it (:func:`~mix_provider.client.ties.readings`). When another run overlaps ours, or a second has
    too many orders to read, they are every assistant message from our user message's second on that was
    not stored before it (``key.pins.before``): a budget errs on the safe side.
    """
    ours = our_user_message(messages, key)
    if ours is None:
        return []
    found = readings(messages, ours, key.pins.before, key.injected, key.callbacks)
    if found is not None and not any(turn.overlapped for turn in found):
        return list(dict.fromkeys(m.id for turn in found for m in turn.messages if m.role == "assistant"))
    start = next(index for index, m in enumerate(messages) if m.id == ours)
    second = messages[start].created_at
    return [
        m.id
        for index, m in enumerate(messages)
        if m.role == "assistant"
        and m.id not in key.pins.before
        and (index > start or (second is not None and m.created_at == second))
    ]


def running_tokens(rows: Sequence[BackendMessage], ids: Collection[str]) -> TurnTokens | None:
    """The tokens of the assistant messages ``ids`` (:func:`budget_ids`) from ``GET .../messages``
    ``rows``: none yet is zero; None when one has no usage."""
    found = {row.id: (row.input_tokens, row.output_tokens) for row in rows}
    return message_tokens(found, ids) if ids else (0, 0)


#: Sessions, newest first, looked at for an answered message when the turn's own session has none.
PROBE_SESSIONS = 5


def usage_probe(session_id: str) -> ops.Plan[bool | None]:
    """Whether the server reports per-message usage (so a turn's tokens can be measured): the first
    assistant message of ``session_id``, else of the newest sessions, carries ``inputTokens`` and
    ``outputTokens``; None when no assistant message was found to tell."""
    verdict = _reports((yield ops.get_messages(session_id)))
    if verdict is not None:
        return verdict
    listed: list[Any] = yield ops.list_sessions()
    for session in [s for s in listed if s.id != session_id][:PROBE_SESSIONS]:
        verdict = _reports((yield ops.get_messages(session.id)))
        if verdict is not None:
            return verdict
    return None


def _reports(rows: list[BackendMessage]) -> bool | None:
    answered = next((row for row in rows if row.role == "assistant"), None)
    if answered is None:
        return None
    return answered.input_tokens is not None and answered.output_tokens is not None
