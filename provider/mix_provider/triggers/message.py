"""MixMessageTrigger: waits, in the triggerer, for the reply to a message already sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from mix_provider.client import POLL_INTERVAL, MessageOptions, TurnKey
from mix_provider.client.outcome import ErrorEvent, SuccessEvent, TimeoutEvent, TurnEvent, interrupted
from mix_provider.client.policies import Supervision
from mix_provider.client.requests import pending_answer
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.usage import TurnBaseline
from mix_provider.client.validation import positive_number, require_id, require_int
from mix_provider.errors import MixAskRequired, MixError, MixReplyTimeoutError, MixSupervisionError, is_retryable
from mix_provider.hooks.mix import MixHook
from mix_provider.triggers.settle import hold_early

#: Seconds ``on_kill`` may spend asking the server to cancel the run.
CANCEL_BUDGET = 10.0


class MixMessageTrigger(BaseTrigger):  # type: ignore[misc]
    """Wait for the reply to a message already sent: the end of the turn that message started.

    Exactly one terminal event is yielded (:data:`~mix_provider.client.outcome.TurnEvent`):
    ``success`` (the reply), ``timeout`` (wall-clock ``deadline`` passed), ``error`` (a permanent
    error, or more than ``max_failures`` transient ones), or ``ask`` / ``stopped`` (a policy).
    Serialized kwargs hold ids, numbers and the connection id only, never a secret.

    :param session_id: the session.
    :param baseline: counts and totals before the message (:class:`~mix_provider.client.usage.TurnBaseline`
        or its JSON form).
    :param turn: which user message is ours (:meth:`TurnKey.to_json <mix_provider.client.TurnKey.to_json>`:
        a count, a length and a hash, no text); without it, the first user message after the baseline.
    :param deadline: absolute wall-clock deadline (``time.time()`` seconds).
    :param mix_conn_id: the Mix connection id.
    :param poll_interval: seconds between transcript polls when the SSE stream is unavailable.
    :param max_failures: transient failures tolerated before giving up.
    :param supervision: the policies and budget (:meth:`Supervision.to_json
        <mix_provider.client.policies.Supervision.to_json>`); None: the defaults.
    :param decisions: decisions counted earlier in this turn.
    :param message: ``{"text", "options"}`` of a message the trigger sends itself, once the stream is
        open and unless the transcript already holds it: a permission request can follow a message
        within milliseconds, and the stream does not replay events sent before it connected.
    :param answer: a decision to send once the stream is open (:meth:`Decision.pending
        <mix_provider.client.requests.Decision.pending>`: a person's answer).
    :param not_before: wall-clock time (``time.time()`` seconds) before which no event is yielded
        in a triggerer (:func:`~mix_provider.triggers.settle.hold_early`: Airflow's defer race).
    """

    def __init__(
        self,
        session_id: str,
        baseline: TurnBaseline | Mapping[str, Any],
        deadline: float,
        mix_conn_id: str = MixHook.default_conn_name,
        poll_interval: float = POLL_INTERVAL,
        max_failures: int = 5,
        turn: dict[str, Any] | None = None,
        supervision: dict[str, Any] | None = None,
        decisions: dict[str, int] | None = None,
        answer: dict[str, Any] | None = None,
        message: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.session_id = require_id("session_id", session_id)
        self.baseline = TurnBaseline.from_json(baseline)
        self.turn = turn
        self.deadline = positive_number("deadline", deadline, unit="seconds since the epoch")
        self.mix_conn_id = mix_conn_id
        self.poll_interval = positive_number("poll_interval", poll_interval)
        self.max_failures = require_int("max_failures", max_failures, minimum=0)
        self.supervision = supervision
        self.decisions = decisions
        self.answer = answer
        self.message = message
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs; no secrets."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "session_id": self.session_id,
                "baseline": self.baseline.to_json(),
                "deadline": self.deadline,
                "mix_conn_id": self.mix_conn_id,
                "poll_interval": self.poll_interval,
                "max_failures": self.max_failures,
                "turn": self.turn,
                "supervision": self.supervision,
                "decisions": self.decisions,
                "answer": self.answer,
                "message": self.message,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Follow the session until the reply finishes; yield one terminal event."""
        hook = MixHook(self.mix_conn_id)
        try:
            outcome = (await self._outcome(hook)).to_json()
        finally:
            await hook.aclose()
        await hold_early(self, self.not_before)
        yield TriggerEvent(outcome)

    async def _outcome(self, hook: MixHook) -> TurnEvent:
        failures = 0
        turn = TurnKey.from_json(self.turn) if self.turn else TurnKey(self.baseline.user_messages)
        supervision = Supervision.from_json(self.supervision)
        supervisor = Supervisor.of(supervision, self.session_id, self.baseline, self.log, self.decisions)
        answer = pending_answer(self.answer) if self.answer else None
        while (remaining := self.deadline - time.time()) > 0:
            try:
                waits: dict[str, Any] = {"timeout": remaining, "poll_interval": self.poll_interval}
                if self.message and not await hook.awas_sent(self.session_id, turn):
                    options = MessageOptions.checked(**self.message.get("options", {}))
                    reply = await hook.asend_and_wait(
                        self.session_id, self.message["text"], options, turn=turn, supervisor=supervisor, **waits
                    )
                else:
                    reply = await hook.await_for_reply(
                        self.session_id, turn, supervisor=supervisor, answer=answer, **waits
                    )
                after, tokens = await hook.areply_usage(self.session_id, reply)
                return SuccessEvent.of(
                    self.session_id, reply, self.baseline, after, supervisor.tally, tokens, turn.pins.stored
                )
            except MixReplyTimeoutError:
                break
            except (MixAskRequired, MixSupervisionError) as exc:
                return interrupted(exc, self.baseline, turn, supervisor.usage, supervisor.tally)
            except MixError as exc:
                failures += 1
                if not is_retryable(exc) or failures > self.max_failures:
                    message = f"{type(exc).__name__}: {exc}"
                    return ErrorEvent(session_id=self.session_id, baseline=self.baseline, message=message)
                self.log.warning("Mix wait failed (%s), %d/%d; retrying", exc, failures, self.max_failures)
                await asyncio.sleep(min(self.poll_interval * failures, max(self.deadline - time.time(), 0)))
        message = f"no reply in session {self.session_id} before the deadline"
        return TimeoutEvent(session_id=self.session_id, baseline=self.baseline, message=message)

    async def on_kill(self) -> None:
        """The task was cancelled by a user: ask the server to cancel the run, within a short budget."""
        hook = MixHook(self.mix_conn_id)
        try:
            await asyncio.wait_for(hook.acancel_session(self.session_id), CANCEL_BUDGET)
            self.log.info("Cancelled the Mix run in session %s", self.session_id)
        except (MixError, asyncio.TimeoutError) as exc:
            self.log.warning("Could not cancel the Mix run in session %s: %s", self.session_id, exc)
        finally:
            await hook.aclose()
