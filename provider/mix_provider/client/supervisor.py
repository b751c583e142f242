"""The supervisor of one wait: reads each SSE event, says what to answer, what to read, when to stop.

It holds the policies and the turn's budget (:mod:`.policies`) and its baseline, counts decisions and
writes one progress line per tool, sub-agent, request and decision. It does no I/O: it returns a
:class:`Step`, which the blocking and the asyncio waiters execute (decide once, do I/O twice).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mix_provider.client.operations import Call
from mix_provider.client.policies import Budget, NotificationPolicy, PermissionPolicy, Supervision, decide
from mix_provider.client.requests import ASK, DENY, FAIL, GRANT, Request
from mix_provider.client.stream import StreamEvent
from mix_provider.client.usage import TurnBaseline, TurnTokens, TurnUsage, UsageRead, turn_usage
from mix_provider.errors import (
    MixAskRequired,
    MixError,
    MixUndecidedRequestError,
)
from mix_provider.models import SessionTotals

#: Events after which the session's totals may have grown (an assistant round was stored).
_USAGE_EVENTS = frozenset({"tool_execution_start", "tool_execution_complete"})
_TOOL_IN_PROGRESS = re.compile(r"(?:Executing|Completed|Failed) (\S+) tool")
#: The tool that runs a sub-agent (``llm/agent/task-tool.go`` ``TaskToolName``), in any case.
TASK_TOOL = "task"
#: The counters of :attr:`Supervisor.tally`.
TALLY_KEYS = ("granted", "denied", "answered", "asked")


class Logger(Protocol):
    """What the supervisor logs to: a stdlib logger, or an operator's / trigger's ``self.log``."""

    def info(self, msg: str, *args: Any) -> None: ...

    def warning(self, msg: str, *args: Any) -> None: ...


@dataclass(frozen=True)
class Step:
    """What a waiter does after one event: follow the sub-agent that tool call ``watch`` starts
    (:mod:`.subagents`), send ``answer``, read the turn's ``usage`` (then :meth:`Supervisor.after_usage`), or raise
    ``error`` (cancelling the run first when ``cancel``)."""

    answer: Call[Any] | None = None
    usage: UsageRead | None = None
    error: MixError | None = None
    cancel: bool = False
    watch: str | None = None


NOTHING = Step()


class Supervisor:
    """Judges the events of one wait (see the module docstring); not shared between waits.

    :param session_id: the session.
    :param permissions: the permission policy.
    :param notifications: the notification policy.
    :param budget: the turn's limits.
    :param baseline: the session's totals before the turn (for the budget).
    :param log: where progress lines go (default: the ``mix_provider.client`` logger).
    :param tally: decisions counted so far in this turn (an earlier wait's :attr:`tally`).
    :param usage_every: at least this many seconds between two reads of the session's totals.
    """

    def __init__(
        self,
        session_id: str,
        *,
        permissions: PermissionPolicy | None = None,
        notifications: NotificationPolicy | None = None,
        budget: Budget | None = None,
        baseline: TurnBaseline | None = None,
        log: Logger | None = None,
        tally: Mapping[str, int] | None = None,
        usage_every: float = 1.0,
    ) -> None:
        self.session_id = session_id
        self.permissions = permissions or PermissionPolicy()
        self.notifications = notifications or NotificationPolicy()
        self.budget = budget or Budget()
        self.baseline = baseline or TurnBaseline()
        self.log: Logger = log or logging.getLogger("mix_provider.client")
        self.tally = {key: int((tally or {}).get(key, 0)) for key in TALLY_KEYS}
        self.usage: TurnUsage | None = None
        self._usage_every = usage_every
        self._usage_read_at = float("-inf")
        self._tools: dict[str, str] = {}
        self._subagents: set[str] = set()
        self._watched: set[str] = set()

    @classmethod
    def of(
        cls,
        supervision: Supervision,
        session_id: str,
        baseline: TurnBaseline,
        log: Logger | None = None,
        tally: Mapping[str, int] | None = None,
    ) -> Supervisor:
        """A fresh supervisor for one wait of the turn whose session looked like ``baseline`` before it."""
        return cls(
            session_id,
            permissions=supervision.permissions,
            notifications=supervision.notifications,
            budget=supervision.budget,
            baseline=baseline,
            log=log,
            tally=tally,
        )

    def on_event(self, event: StreamEvent) -> Step:
        """Log the event's progress and return what to do about it."""
        self._progress(event)
        request = Request.of(event.event, event.data)
        if request is not None:
            return self._decide(request)
        step = NOTHING
        if self.budget.active and event.event in _USAGE_EVENTS and not event.nested:
            now = time.monotonic()
            if now - self._usage_read_at >= self._usage_every:
                self._usage_read_at = now
                step = Step(usage=UsageRead(tokens=self.budget.max_tokens is not None))
        if (call := self._subagent_started(event)) is not None:
            step = replace(step, watch=call)
        return step

    def _subagent_started(self, event: StreamEvent) -> str | None:
        """The tool call id of a ``task`` tool starting (it runs a sub-agent), once per call."""
        call = str(event.data.get("toolCallId") or "")
        if event.event != "tool_execution_start" or event.nested or not call or call in self._watched:
            return None
        if self._tool_name(event.data).lower() != TASK_TOOL:
            return None
        self._watched.add(call)
        return call

    def after_usage(self, totals: SessionTotals, tokens: TurnTokens | None = None) -> Step:
        """Compare the turn's usage so far with the budget; a breach cancels the run."""
        self.usage = turn_usage(self.baseline, totals, tokens)
        breach = self.budget.breach(self.session_id, self.usage)
        if breach is None:
            return NOTHING
        self.log.warning("Mix budget exceeded in session %s: %s; cancelling the run", self.session_id, breach)
        return Step(error=breach, cancel=True)

    def not_answered(self, request_id: str, exc: MixError) -> None:
        """An answer found nothing waiting (answered elsewhere, timed out, or its run cancelled)."""
        self.log.warning("Mix request %s was no longer waiting for an answer (%s); the turn goes on", request_id, exc)

    def _decide(self, request: Request) -> Step:
        decision = decide(request, self.permissions, self.notifications)
        self.log.info("Mix %s request %s: %s", request.kind, request.summary(), decision.describe())
        if decision.action == FAIL:
            return Step(error=MixUndecidedRequestError(self.session_id, request.kind, request.summary()), cancel=True)
        if decision.action == ASK:
            self.tally["asked"] += 1
            return Step(error=MixAskRequired(self.session_id, request.to_json()))
        self.count(decision.action)
        return Step(answer=decision.answer(request))

    def count(self, action: str) -> None:
        """Count one decision sent to Mix (``grant``, ``deny`` or ``respond``)."""
        key = {GRANT: "granted", DENY: "denied"}.get(action, "answered")
        self.tally[key] += 1

    def _progress(self, event: StreamEvent) -> None:
        data, name = event.data, event.event
        parent = data.get("parentToolCallId")
        if parent:
            if parent not in self._subagents:
                self._subagents.add(parent)
                self.log.info("Mix sub-agent started (tool call %s)", parent)
            if name == "complete":
                self.log.info("Mix sub-agent finished (tool call %s)", parent)
            return
        if name in ("tool_use_start", "tool_use_parameter_streaming_complete") and data.get("id"):
            self._tools[str(data["id"])] = str(data.get("name") or "")
        elif name == "tool_execution_start":
            self.log.info("Mix tool started: %s", self._tool_name(data))
        elif name == "tool_execution_complete":
            outcome = "finished" if data.get("success", True) else "failed"
            self.log.info("Mix tool %s: %s (%s)", outcome, self._tool_name(data), str(data.get("progress") or "")[:200])

    def _tool_name(self, data: Mapping[str, Any]) -> str:
        named = data.get("toolName") or self._tools.get(str(data.get("toolCallId")))
        if not named and (found := _TOOL_IN_PROGRESS.search(str(data.get("progress") or ""))):
            named = found.group(1)
        return str(named or "tool")
