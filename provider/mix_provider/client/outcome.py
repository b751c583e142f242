"""How a wait for a reply ends, as one typed event: built here, checked here, trusted nowhere else.

The message trigger (deferrable mode) and the operator's blocking wait both end a turn with a
:data:`TurnEvent`; its JSON form crosses the trigger boundary and :func:`parse_event` reads it back,
so ``MixSendMessageOperator.execute_complete`` is the single completion handler of both modes. An
event that ends the turn in failure rebuilds the typed error it stands for (:meth:`TimeoutEvent.to_error`,
:meth:`ErrorEvent.to_error`, :meth:`StoppedEvent.to_error`). The wait for a session to be idle ends
the same way: an :data:`IdleWaitEvent`, read back by :func:`parse_idle_event`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_serializer, field_validator

from mix_provider.client.turns import Reply, TurnKey
from mix_provider.client.usage import USAGE_KEYS, TurnBaseline, TurnTokens, TurnUsage, turn_usage
from mix_provider.errors import (
    MixAskRequired,
    MixBudgetExceededError,
    MixError,
    MixReplyTimeoutError,
    MixSupervisionError,
    MixUndecidedRequestError,
    MixWaitFailedError,
)
from mix_provider.models import SessionTotals

#: Longest reply text put into XCom; longer replies are cut and flagged ``reply_truncated``.
REPLY_XCOM_LIMIT = 100_000


class TurnStatus(str, Enum):
    """How a wait ended: the reply (``success``), the deadline, an error, a person asked, a policy stopped it."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    ERROR = "error"
    #: A policy handed a request to a person.
    ASK = "ask"
    #: A policy stopped the run (the run was cancelled).
    STOPPED = "stopped"


class _Event(BaseModel):
    """What every event carries: the session and the baseline of the turn waited on (None: not known)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    baseline: TurnBaseline | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form a ``TriggerEvent`` carries, read back by :func:`parse_event`."""
        return self.model_dump(mode="json")


class SuccessEvent(_Event):
    """The reply: its text (cut to :data:`REPLY_XCOM_LIMIT`) and ids, finish reason, tool calls and usage.

    Tokens and cost are this turn's only when no other run overlapped it (no other message arrived, and
    none was in progress); otherwise they are None and ``usage_attributable`` is false, rather than
    another turn's spend reported as ours. Tokens are also None when the server reports no
    per-message usage (:mod:`mix_provider.client.usage`).
    """

    status: Literal[TurnStatus.SUCCESS] = TurnStatus.SUCCESS
    user_message_id: str = ""
    message_id: str
    reply: str
    reply_truncated: bool = False
    finish_reason: str | None
    tool_calls: int = 0
    steps: int = 0
    overlapped: bool = False
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    usage_attributable: bool = True
    decisions: dict[str, int] = Field(default_factory=dict)
    #: The messages of the last second the wait read before sending (:class:`~mix_provider.client.turns.TurnPins`
    #: ``stored``): with the earlier seconds, what a rewind dropping this turn keeps (:mod:`mix_provider.client.rewind`).
    stored_before: list[str] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        session_id: str,
        reply: Reply,
        baseline: TurnBaseline,
        after: SessionTotals,
        decisions: Mapping[str, int] | None = None,
        tokens: TurnTokens | None = None,
        stored_before: Collection[str] = (),
    ) -> SuccessEvent:
        """The event of a finished turn whose session's totals are ``after`` and whose assistant
        messages report ``tokens`` (None: the server reports no per-message usage)."""
        alone = after.user_message_count - baseline.user_messages <= 1
        attributable = alone and not reply.overlapped
        usage = turn_usage(baseline, after, tokens).to_json() if attributable else dict.fromkeys(USAGE_KEYS)
        return cls(
            session_id=session_id,
            baseline=baseline,
            user_message_id=reply.user_message_id,
            message_id=reply.message_id,
            reply=reply.text[:REPLY_XCOM_LIMIT],
            reply_truncated=len(reply.text) > REPLY_XCOM_LIMIT,
            finish_reason=reply.finish_reason,
            tool_calls=reply.tool_calls,
            steps=reply.steps,
            overlapped=reply.overlapped,
            usage_attributable=attributable,
            decisions=dict(decisions or {}),
            stored_before=sorted(stored_before),
            **usage,
        )

    @property
    def usage(self) -> TurnUsage | None:
        """The turn's usage, or None when it cannot be told apart from other runs'."""
        if not self.usage_attributable or self.cost is None:
            return None
        return TurnUsage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens, cost=self.cost)

    def result(self) -> dict[str, Any]:
        """The operator's return value (XCom): the event without its status and baseline."""
        return self.model_dump(mode="json", exclude={"status", "baseline"})


class TimeoutEvent(_Event):
    """No reply before the deadline."""

    status: Literal[TurnStatus.TIMEOUT] = TurnStatus.TIMEOUT
    message: str

    def to_error(self, timeout: float) -> MixError:
        """The typed error: :class:`~mix_provider.errors.MixReplyTimeoutError` after ``timeout`` seconds."""
        return MixReplyTimeoutError(self.session_id, timeout)


class ErrorEvent(_Event):
    """A permanent error, or more transient ones than the trigger tolerates; ``message`` names it."""

    status: Literal[TurnStatus.ERROR] = TurnStatus.ERROR
    message: str

    def to_error(self, timeout: float) -> MixError:
        """The typed error: :class:`~mix_provider.errors.MixWaitFailedError`."""
        return MixWaitFailedError(self.session_id, self.message)


class _Interrupted(_Event):
    """A supervisor ended the wait: the turn's key (to wait again) and the decisions counted so far."""

    turn: TurnKey | None = None
    decisions: dict[str, int] = Field(default_factory=dict)

    @field_validator("turn", mode="before")
    @classmethod
    def _turn(cls, value: Any) -> Any:
        return TurnKey.from_json(value) if isinstance(value, Mapping) else value

    @field_serializer("turn")
    def _turn_json(self, turn: TurnKey | None) -> dict[str, Any] | None:
        return None if turn is None else turn.to_json()


class AskEvent(_Interrupted):
    """A policy handed ``request`` (:meth:`Request.to_json <mix_provider.client.requests.Request.to_json>`)
    to a person; the run waits for the answer."""

    status: Literal[TurnStatus.ASK] = TurnStatus.ASK
    request: dict[str, Any]


class BudgetStop(BaseModel):
    """A budget's limit was passed (see :class:`~mix_provider.errors.MixBudgetExceededError`)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["budget"] = "budget"
    limit: str
    allowed: float
    spent: float


class UndecidedStop(BaseModel):
    """No rule decided a request (see :class:`~mix_provider.errors.MixUndecidedRequestError`)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["undecided"] = "undecided"
    kind: str
    request: str


class StoppedEvent(_Interrupted):
    """A policy stopped the run (it was cancelled): why (``error``), and the usage the supervisor last read."""

    status: Literal[TurnStatus.STOPPED] = TurnStatus.STOPPED
    message: str
    error: Annotated[BudgetStop | UndecidedStop, Field(discriminator="type")] | None = None
    usage: TurnUsage | None = None

    def to_error(self, timeout: float) -> MixError:
        """The typed error the event stands for (a :class:`~mix_provider.errors.MixSupervisionError`)."""
        why = self.error
        if isinstance(why, BudgetStop):
            return MixBudgetExceededError(self.session_id, why.limit, why.allowed, why.spent)
        if isinstance(why, UndecidedStop):
            return MixUndecidedRequestError(self.session_id, why.kind, why.request)
        return MixSupervisionError(self.session_id, self.message)


#: The events that end a turn without its reply: each rebuilds its typed error (``to_error``).
Ended = TimeoutEvent | ErrorEvent | StoppedEvent
#: Every event a wait for a reply ends with, told apart by ``status``.
TurnEvent = Annotated[SuccessEvent | TimeoutEvent | ErrorEvent | AskEvent | StoppedEvent, Field(discriminator="status")]
_EVENTS: TypeAdapter[TurnEvent] = TypeAdapter(TurnEvent)
_STATUSES = sorted(status.value for status in TurnStatus)


def interrupted(
    exc: MixAskRequired | MixSupervisionError,
    baseline: TurnBaseline,
    turn: TurnKey,
    usage: TurnUsage | None,
    decisions: Mapping[str, int],
) -> AskEvent | StoppedEvent:
    """The event of a wait a supervisor ended: ``ask`` (a person decides) or ``stopped`` (run cancelled)."""
    common: dict[str, Any] = {"baseline": baseline, "turn": turn, "decisions": dict(decisions)}
    if isinstance(exc, MixAskRequired):
        return AskEvent(session_id=exc.session_id, request=dict(exc.request), **common)
    why: BudgetStop | UndecidedStop | None = None
    if isinstance(exc, MixBudgetExceededError):
        why = BudgetStop(limit=exc.limit, allowed=exc.allowed, spent=exc.spent)
    elif isinstance(exc, MixUndecidedRequestError):
        why = UndecidedStop(kind=exc.kind, request=exc.request)
    return StoppedEvent(session_id=exc.session_id, message=str(exc), error=why, usage=usage, **common)


def parse_event(event: object) -> TurnEvent:
    """Check a trigger event (its JSON form) before trusting it; a typed event is already checked.

    :raises ValueError: naming what is wrong (not a dict, an unknown status, the missing keys).
    """
    if isinstance(event, (SuccessEvent, TimeoutEvent, ErrorEvent, AskEvent, StoppedEvent)):
        return event
    return _validated(_EVENTS, _STATUSES, event)


class IdleStatus(str, Enum):
    """How a wait for a session to be idle ended."""

    IDLE = "idle"
    ERROR = "error"


class _IdleWait(BaseModel):
    """What every event of the idle wait carries: the session."""

    model_config = ConfigDict(frozen=True)

    session_id: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form a ``TriggerEvent`` carries, read back by :func:`parse_idle_event`."""
        return self.model_dump(mode="json")


class IdleEvent(_IdleWait):
    """The session had no run in progress."""

    status: Literal[IdleStatus.IDLE] = IdleStatus.IDLE


class IdleErrorEvent(_IdleWait):
    """A permanent error, or more transient ones than the trigger tolerates; ``message`` names it."""

    status: Literal[IdleStatus.ERROR] = IdleStatus.ERROR
    message: str

    def to_error(self) -> MixError:
        """The typed error: :class:`~mix_provider.errors.MixWaitFailedError`."""
        return MixWaitFailedError(self.session_id, self.message)


#: Every event a wait for an idle session ends with, told apart by ``status``.
IdleWaitEvent = Annotated[IdleEvent | IdleErrorEvent, Field(discriminator="status")]
_IDLE_EVENTS: TypeAdapter[IdleWaitEvent] = TypeAdapter(IdleWaitEvent)
_IDLE_STATUSES = sorted(status.value for status in IdleStatus)


def parse_idle_event(event: object) -> IdleEvent | IdleErrorEvent:
    """:func:`parse_event` for the idle wait's events.

    :raises ValueError: naming what is wrong (not a dict, an unknown status, the missing keys).
    """
    if isinstance(event, (IdleEvent, IdleErrorEvent)):
        return event
    return _validated(_IDLE_EVENTS, _IDLE_STATUSES, event)


E = TypeVar("E")


def _validated(adapter: TypeAdapter[E], statuses: list[str], event: object) -> E:
    if not isinstance(event, dict):
        raise ValueError(f"Mix trigger event must be a dict, got {type(event).__name__}")
    status = event.get("status")
    if status not in statuses:
        raise ValueError(f"Mix trigger event status {status!r} is not one of {statuses}")
    try:
        return adapter.validate_python(event)
    except ValidationError as exc:
        raise ValueError(f"Mix trigger event ({status}) {_complaint(exc)}") from None


def _complaint(exc: ValidationError) -> str:
    missing = sorted(str(error["loc"][-1]) for error in exc.errors() if error["type"] == "missing")
    if missing:
        return f"lacks {', '.join(missing)}"
    first = exc.errors()[0]
    return f"has a bad {'.'.join(str(part) for part in first['loc'][1:])}: {first['msg']}"
