"""MixSendMessageOperator: one Mix "turn" (send a message, wait for the reply), deferrable or blocking."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any, NoReturn, Unpack, cast

from airflow.providers.common.compat.sdk import conf

from mix_provider import assets
from mix_provider.client import POLL_INTERVAL, REPLY_TIMEOUT, MessageOptions, TurnKey
from mix_provider.client.options import check_known
from mix_provider.client.outcome import (
    AskEvent,
    Ended,
    SuccessEvent,
    TimeoutEvent,
    TurnEvent,
    interrupted,
    parse_event,
)
from mix_provider.client.policies import Budget, NotificationPolicy, PermissionPolicy, Supervision
from mix_provider.client.requests import pending_answer
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.usage import TurnBaseline
from mix_provider.client.validation import (
    choices,
    one_of,
    positive_number,
    require_bool,
    require_id,
    require_text,
)
from mix_provider.errors import (
    MixAskRequired,
    MixError,
    MixReplyTimeoutError,
    MixStepLimitError,
    MixSupervisionError,
    MixTokensUnmeasurableError,
    MixTriggerEventError,
    reply_failure,
)
from mix_provider.models import FinishReason, ThinkingLevel
from mix_provider.operators._hitl import Resumption, ask_person, check_supervision, resume_after_answer
from mix_provider.operators._renamed import renamed
from mix_provider.operators._state import TaskState
from mix_provider.operators._uploads import check_sources, keep_uploaded, kept_uploaded, upload_all, with_attachments
from mix_provider.operators._usage import report_usage
from mix_provider.operators.base import MixBaseOperator
from mix_provider.templating import check_literal, rendered_number, template_safe
from mix_provider.triggers.message import MixMessageTrigger
from mix_provider.triggers.settle import settle_deadline

#: Finish reasons that fail the task unless ``fail_on_finish_reasons`` says otherwise.
DEFAULT_FAILING_FINISH_REASONS = ("error", "permission_denied", "max_tokens", "canceled")
#: The values ``fail_on_finish_reasons`` accepts.
FINISH_REASONS = frozenset(reason.value for reason in FinishReason)
#: The values ``on_step_limit`` accepts.
STEP_LIMIT_CHOICES = ("fail", "accept")
#: Extra seconds the task's defer timeout allows beyond the trigger's own deadline.
DEFER_MARGIN = 60


class MixSendMessageOperator(MixBaseOperator):
    """Send a message to a session and, by default, wait for the agent's reply.

    Returns ``{session_id, message_id, reply, reply_truncated, finish_reason, tool_calls,
    prompt_tokens, completion_tokens, cost}`` (tokens and cost of this turn). The wait follows the
    SSE stream (opened before sending) and falls back to polling the transcript if it drops. With
    ``deferrable=True`` the wait runs in the triggerer (:class:`MixMessageTrigger`).

    A retried try whose message was already sent waits for that reply instead of sending the text
    again (Airflow >= 3.3 task state). Killing the task cancels the run on the server.

    :param session_id: the session (templated).
    :param text: the message (templated).
    :param plan_mode: ask the agent to plan only.
    :param thinking_level: ``off``, ``basic``, ``medium`` or ``maximum``.
    :param max_steps: cap on agent steps (>= 1; templated).
    :param wait_for_reply: wait for the reply (default); if False, return right after sending.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param timeout: seconds to wait for the reply (templated).
    :param poll_interval: seconds between transcript polls when the stream is unavailable.
    :param fail_on_finish_reasons: finish reasons that fail the task (default: error,
        permission_denied, max_tokens, canceled); pass ``()`` to succeed with any reply.
    :param permission_policy: how the agent's permission requests are answered
        (:class:`~mix_provider.client.policies.PermissionPolicy` or a dict of its fields); by
        default none is granted: the run is cancelled and the task fails naming the tool.
    :param notification_policy: how notifications are answered
        (:class:`~mix_provider.client.policies.NotificationPolicy` or a dict); by default info,
        warning and error are acknowledged and a question fails the task.
    :param max_cost_usd: the turn's cost limit; passing it cancels the run and fails the task (templated).
    :param max_tokens: the turn's token limit (prompt + completion), likewise (templated); only where
        the server reports per-message usage: otherwise the turn is refused before sending
        (:class:`~mix_provider.errors.MixTokensUnmeasurableError`).
    :param on_step_limit: what a run stopped by ``max_steps`` means: ``fail`` (default) raises
        :class:`~mix_provider.errors.MixStepLimitError`; ``accept`` returns the last round's partial
        reply with ``step_limited`` true. The server stores that round as ``canceled``, so without
        ``max_steps`` a ``canceled`` reply is a cancellation.
    :param files: files to give the agent with this message: a path or URI, a glob, or a list of them
        (templated; see :class:`~mix_provider.operators.files.MixUploadFilesOperator`). They are
        uploaded first, and the message ends with their URLs.

    A templated number renders as text (``"{{ params.budget }}"`` gives ``"0.5"``): it is read as a
    number once rendered and checked then, the error naming the field.
    """

    template_fields: Sequence[str] = (
        "mix_conn_id",
        "session_id",
        "text",
        "thinking_level",
        "files",
        "max_steps",
        "timeout",
        "max_cost_usd",
        "max_tokens",
    )
    template_fields_renderers = {"text": "md"}

    def __init__(
        self,
        *,
        session_id: str,
        text: str,
        plan_mode: bool | None = None,
        thinking_level: ThinkingLevel | str | None = None,
        max_steps: int | str | None = None,
        wait_for_reply: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        timeout: float | str = REPLY_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        fail_on_finish_reasons: Collection[str] = DEFAULT_FAILING_FINISH_REASONS,
        permission_policy: PermissionPolicy | Mapping[str, Any] | None = None,
        notification_policy: NotificationPolicy | Mapping[str, Any] | None = None,
        max_cost_usd: float | str | None = None,
        max_tokens: int | str | None = None,
        files: str | list[Any] | None = None,
        on_step_limit: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.text = text
        self.files = files
        self.plan_mode = plan_mode
        self.thinking_level = template_safe(thinking_level)
        self.max_steps: object = max_steps
        self.wait_for_reply = require_bool("wait_for_reply", wait_for_reply)
        self.deferrable = require_bool("deferrable", deferrable)
        # Text while templated: _check_numbers() makes them numbers before any use.
        self.timeout = cast(float, timeout)
        self.max_cost_usd = cast("float | None", max_cost_usd)
        self.max_tokens = cast("int | None", max_tokens)
        self.poll_interval = positive_number("poll_interval", poll_interval)
        self.fail_on_finish_reasons = choices("fail_on_finish_reasons", fail_on_finish_reasons, FINISH_REASONS)
        self.supervision = check_supervision(Supervision.checked(permission_policy, notification_policy))
        self.on_step_limit = one_of("on_step_limit", on_step_limit, STEP_LIMIT_CHOICES)
        self._waiting_on: str | None = None
        self._check_numbers(rendered=False)
        check_known(MessageOptions.checked, self.pending_fields(), **self._options_arguments())
        check_literal(partial(require_id, "session_id"), session_id)
        check_literal(partial(require_text, "text"), text)
        if files:
            check_literal(check_sources, files)

    def _check_numbers(self, *, rendered: bool) -> None:
        """Check ``timeout`` and the budget, each error naming its field; at parse time skip templated ones.

        Once ``rendered``, text from a template is read as a number first (:func:`~mix_provider.templating.rendered_number`);
        ``max_steps`` is read likewise and checked with the other message options.
        """
        read = rendered_number if rendered else (lambda value: value)
        pending = frozenset() if rendered else self.pending_fields()
        if "timeout" not in pending:
            self.timeout = positive_number("timeout", read(self.timeout))
        if rendered:
            self.max_steps = read(self.max_steps)
        if not pending & {"max_cost_usd", "max_tokens"}:
            budget = Budget.checked(read(self.max_cost_usd), read(self.max_tokens))
            self.max_cost_usd, self.max_tokens = budget.max_cost_usd, budget.max_tokens
            self.supervision = replace(self.supervision, budget=budget)

    def _options_arguments(self) -> dict[str, Any]:
        return {"plan_mode": self.plan_mode, "thinking_level": self.thinking_level, "max_steps": self.max_steps}

    def execute(self, context: Any) -> Any:
        """Validate, send (unless an earlier try did), then wait here or in the triggerer."""
        self._check_numbers(rendered=True)
        session_id = require_id("session_id", self.session_id)
        require_text("text", self.text)
        options = MessageOptions.checked(**self._options_arguments())
        if self.wait_for_reply and self.supervision.budget.max_tokens is not None:
            self._check_tokens_measurable(session_id)
        if self.files:
            uploaded = upload_all(self.hook, session_id, self.files)
            keep_uploaded(context, uploaded)
            self.text = with_attachments(self.text, uploaded)
        state = TaskState(context, "mix_sent_message")
        baseline, turn, already_sent = self._baseline(state, session_id)
        if not self.wait_for_reply:
            if not already_sent:
                self.hook.send_message(session_id, self.text, options, turn=turn)
            state.clear()
            return self._with_files(context, {"session_id": session_id, "status": "sent"})
        if self.deferrable:
            return self._defer(session_id, baseline, turn, already_sent, options)
        return self.execute_complete(context, self._wait_here(session_id, baseline, turn, already_sent, options))

    def _check_tokens_measurable(self, session_id: str) -> None:
        """Refuse ``max_tokens`` before sending when the server cannot say what a turn's tokens are."""
        verdict = self.hook.reports_message_usage(session_id)
        if verdict is not True:
            reason = (
                "its messages carry no per-message usage (inputTokens/outputTokens)"
                if verdict is False
                else "no answered message on this server shows whether it reports per-message usage"
            )
            raise MixTokensUnmeasurableError(session_id, reason)

    def _baseline(self, state: TaskState, session_id: str) -> tuple[TurnBaseline, TurnKey, bool]:
        """The session before our message, our message's key, and whether an earlier try sent it."""
        saved = state.get()
        if saved is not None and saved.get("session_id") == session_id:
            baseline = TurnBaseline.from_json(saved["baseline"])
            turn = TurnKey.from_json(saved["turn"]) if "turn" in saved else TurnKey(baseline.user_messages)
            if self.hook.was_sent(session_id, turn):
                self.log.info("An earlier try already sent this message to %s; waiting for its reply", session_id)
                return baseline, turn, True
        session = self.hook.get_session(session_id)
        baseline = TurnBaseline.of(session)
        turn = TurnKey.of(session.user_message_count, self.text, session.callbacks)
        state.set({"session_id": session_id, "baseline": baseline.to_json(), "turn": turn.to_json()})
        return baseline, turn, False

    def _defer(
        self, session_id: str, baseline: TurnBaseline, turn: TurnKey, already_sent: bool, options: MessageOptions
    ) -> None:
        message = None if already_sent else {"text": self.text, "options": options.to_wire()}
        self.defer_wait(session_id, baseline, turn, message=message)

    def defer_wait(self, session_id: str, baseline: TurnBaseline, turn: TurnKey, **resume: Unpack[Resumption]) -> None:
        """Defer to :class:`MixMessageTrigger` for the turn ``turn``; it sends the message or the answer, if any."""
        trigger = MixMessageTrigger(
            session_id=session_id,
            baseline=baseline,
            turn=turn.to_json(),
            deadline=time.time() + self.timeout,
            mix_conn_id=self.mix_conn_id,
            poll_interval=self.poll_interval,
            supervision=self.supervision.to_json(),
            not_before=settle_deadline(),
            **resume,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFER_MARGIN),
        )

    def _wait_here(
        self, session_id: str, baseline: TurnBaseline, turn: TurnKey, already_sent: bool, options: MessageOptions
    ) -> TurnEvent:
        if already_sent:
            return self.wait_here(session_id, baseline, turn)
        return self.wait_here(session_id, baseline, turn, send=(self.text, options))

    def wait_here(
        self,
        session_id: str,
        baseline: TurnBaseline,
        turn: TurnKey,
        send: tuple[str, MessageOptions] | None = None,
        **resume: Unpack[Resumption],
    ) -> TurnEvent:
        """Wait in this process for the turn's reply (sending the message or the answer first); the event."""
        answer = resume.get("answer")
        supervisor = Supervisor.of(self.supervision, session_id, baseline, self.log, resume.get("decisions"))
        waits: dict[str, Any] = {"timeout": self.timeout, "poll_interval": self.poll_interval, "supervisor": supervisor}
        self._waiting_on = session_id
        try:
            if send is not None:
                reply = self.hook.send_and_wait(session_id, send[0], send[1], turn=turn, **waits)
            else:
                call = pending_answer(answer) if answer else None
                reply = self.hook.wait_for_reply(session_id, turn, answer=call, **waits)
        except MixReplyTimeoutError as exc:
            return TimeoutEvent(session_id=session_id, baseline=baseline, message=str(exc))
        except (MixAskRequired, MixSupervisionError) as exc:
            return interrupted(exc, baseline, turn, supervisor.usage, supervisor.tally)
        finally:
            self._waiting_on = None
        after = reply.totals or self.hook.get_session(session_id)
        tokens = self.hook.turn_tokens(session_id, reply)
        return SuccessEvent.of(session_id, reply, baseline, after, supervisor.tally, tokens, turn.pins.stored)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        """The one completion handler of both modes: check the event, apply the finish-reason policy.

        :param event: the trigger's event (JSON), or the blocking wait's :data:`~mix_provider.client.outcome.TurnEvent`.
        :raises MixTriggerEventError: the event breaks the trigger's contract.
        :raises MixWaitFailedError: the trigger's wait ended in an ``error`` event.
        :raises MixReplyTimeoutError: no reply before ``timeout``.
        :raises MixReplyFailedError: the reply ended with one of ``fail_on_finish_reasons``
            (:class:`~mix_provider.errors.MixReplyCanceledError` for ``canceled``).
        :raises MixSupervisionError: a policy cancelled the run (:class:`~mix_provider.errors.MixUndecidedRequestError`,
            :class:`~mix_provider.errors.MixBudgetExceededError`).
        """
        self._check_numbers(rendered=True)
        try:
            result = parse_event(event)
        except ValueError as exc:
            raise MixTriggerEventError(str(exc)) from None
        if not isinstance(result, SuccessEvent):
            self._not_a_reply(context, result)
        report_usage(self.hook, self.log, context, result)
        if (usage := result.usage) is not None and (breach := self.supervision.budget.breach(result.session_id, usage)):
            raise breach
        TaskState(context, "mix_sent_message").clear()
        if result.overlapped:
            self.log.warning(
                "Other runs were in progress in session %s during this turn; its reply %s was told apart "
                "from theirs by the order the server stored their messages in",
                result.session_id,
                result.message_id,
            )
        if not result.usage_attributable:
            self.log.warning(
                "Other messages reached session %s during this turn: its tokens and cost cannot be told "
                "apart from theirs and are reported as None",
                result.session_id,
            )
        reason = result.finish_reason
        limited = self._step_limited(result)
        if limited is not None and self.on_step_limit == "fail":
            raise MixStepLimitError(result.session_id, limited, result.message_id, result.reply)
        if limited is None and reason is not None and reason in self.fail_on_finish_reasons:
            raise reply_failure(result.session_id, reason, result.message_id, result.reply)
        return self._with_files(context, {**result.result(), "step_limited": limited is not None})

    def _with_files(self, context: Any, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with the files given with the message (``files``), reported as asset extras and
        OpenLineage inputs the way :class:`~mix_provider.operators.files.MixUploadFilesOperator` reports them."""
        if not self.files:
            return result
        uploaded = kept_uploaded(context)
        assets.emit(self, context, assets.uploads_extra(result["session_id"], uploaded))
        return {**result, "files": uploaded}

    def _step_limited(self, result: SuccessEvent) -> int | None:
        """The ``max_steps`` that stopped the run, if a limit did: its last round is ``canceled`` and it
        used every step (``agent.go`` ``processGeneration`` finishes that round as ``canceled``)."""
        limit = MessageOptions.checked(**self._options_arguments()).max_steps
        if limit is None or result.finish_reason != FinishReason.CANCELED.value:
            return None
        return limit if result.steps >= limit else None

    def _not_a_reply(self, context: Any, result: AskEvent | Ended) -> NoReturn:
        """Ask a person (``ask``), or report the usage and raise the event's typed error."""
        if isinstance(result, AskEvent):
            ask_person(self, context, result)
        report_usage(self.hook, self.log, context, result)
        raise result.to_error(self.timeout)

    def resume_after_answer(self, context: Any, event: Any = None, mix_ask: dict[str, Any] | None = None) -> Any:
        """A person answered a request in Airflow: send it to Mix and wait for the rest of the turn."""
        self._check_numbers(rendered=True)
        return resume_after_answer(self, context, event, mix_ask)

    def on_kill(self) -> None:
        """Cancel the run on the server if this task was waiting for it."""
        if self._waiting_on:
            try:
                self.hook.cancel_session(self._waiting_on)
                self.log.info("Cancelled the Mix run in session %s", self._waiting_on)
            except MixError as exc:
                self.log.warning("Could not cancel the Mix run in session %s: %s", self._waiting_on, exc)


__getattr__ = renamed(__name__, MixSendMessageOperator)
