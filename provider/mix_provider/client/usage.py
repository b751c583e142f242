"""A turn's baseline and usage: the session before our message, and what the turn spent since.

The server reports usage per session only (neither the export nor ``/messages`` carries tokens or
cost per message: ``rest_messages.go`` ``ExportMessage``, ``MessageData``), so a turn's usage is read
from the session's totals and the baseline taken before the message was sent. :func:`turn_usage` is
the one place that computes it; the supervisor's budget, the trigger's events, the operators' XCom
and the managed agent all call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from mix_provider.models import SessionTotals


class TurnBaseline(BaseModel):
    """What a session looked like before a message: its user message count and its totals (small JSON).

    Missing fields read as zero, as a baseline taken from an empty session would.
    """

    model_config = ConfigDict(frozen=True)

    user_messages: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @classmethod
    def of(cls, session: SessionTotals) -> TurnBaseline:
        """The baseline of ``session`` as the server reports it now."""
        return cls(
            user_messages=session.user_message_count,
            prompt_tokens=session.prompt_tokens,
            completion_tokens=session.completion_tokens,
            cost=session.cost,
        )

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


def turn_usage(baseline: TurnBaseline, totals: SessionTotals) -> TurnUsage:
    """The turn's usage: the session's totals now minus the baseline's (cost rounded to 1e-10 dollars)."""
    return TurnUsage(
        prompt_tokens=totals.prompt_tokens - baseline.prompt_tokens,
        completion_tokens=totals.completion_tokens - baseline.completion_tokens,
        cost=round(totals.cost - baseline.cost, 10),
    )
