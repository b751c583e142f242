"""Human-in-the-loop glue: a request a policy hands to a person, asked and answered through Airflow.

When a policy says ``ask``, the wait (in the worker or the triggerer) ends with an ``ask`` event. The
operator's completion handler then writes Airflow's human-in-the-loop request (subject: the agent's
description; options: Grant/Deny or the question's choices), so it shows in the UI's Required Actions,
and parks the task: ``awaiting_input`` on Airflow >= 3.3, deferred to ``HITLTrigger`` on 3.1/3.2.
:func:`resume_after_answer` sends the person's answer to Mix and waits for the rest of the same turn.

Airflow keeps one request per task try (a second upsert keeps the first subject and options), so a
second request needing a person in the same try cancels the run and fails the task, saying so.
Airflow 3.0 has no human-in-the-loop: ``ask`` is refused when the DAG is parsed.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, Protocol, TypedDict, Unpack

from pydantic import ValidationError

from mix_provider.client.outcome import AskEvent, TurnEvent
from mix_provider.client.policies import Supervision
from mix_provider.client.requests import DENY, GRANT, Request, answer_of
from mix_provider.client.turns import TurnKey
from mix_provider.client.usage import TurnBaseline
from mix_provider.errors import MixConfigError, MixError, MixSupervisionError, MixTriggerEventError
from mix_provider.hooks.mix import MixHook
from mix_provider.version_compat import AIRFLOW_V_3_3_PLUS, AIRFLOW_VERSION, HAS_HITL

PERMISSION_OPTIONS = ["Grant", "Deny"]
ACKNOWLEDGE_OPTIONS = ["Acknowledge"]
TEXT_OPTIONS = ["Send"]
#: The name of the text field of a ``text`` question's request.
ANSWER_PARAM = "answer"


class Resumption(TypedDict, total=False):
    """What a wait resumed after a person's answer carries: decisions so far, the answer to send; and,
    for the trigger, the message it sends once its stream is open."""

    decisions: dict[str, int] | None
    answer: dict[str, Any] | None
    message: dict[str, Any] | None


class AskingOperator(Protocol):
    """What asking a person needs of the operator (:class:`~mix_provider.operators.message.MixSendMessageOperator`)."""

    timeout: float
    deferrable: bool

    @property
    def hook(self) -> MixHook: ...

    @property
    def log(self) -> logging.Logger: ...

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None) -> NoReturn: ...

    def defer_wait(
        self, session_id: str, baseline: TurnBaseline, turn: TurnKey, **resume: Unpack[Resumption]
    ) -> None: ...

    def wait_here(
        self,
        session_id: str,
        baseline: TurnBaseline,
        turn: TurnKey,
        send: Any = None,
        **resume: Unpack[Resumption],
    ) -> TurnEvent: ...

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]: ...


def check_supervision(supervision: Supervision) -> Supervision:
    """Refuse ``ask`` on an Airflow without human-in-the-loop (before 3.1), naming the policy.

    :raises MixConfigError: at DAG parse time.
    """
    if supervision.asks and not HAS_HITL:
        raise MixConfigError(
            f"{supervision.asks[0]}.on_undecided",
            f"'ask' needs Airflow >= 3.1 (human-in-the-loop); this is Airflow {AIRFLOW_VERSION}: "
            "use 'fail', or rules that decide every request",
        )
    return supervision


def _options(request: Request) -> tuple[list[str], dict[str, Any]]:
    """The options a person picks from, and the form fields (a text question's answer)."""
    if request.kind == "permission":
        return PERMISSION_OPTIONS, {}
    if request.response_type == "choice" and request.choices:
        return list(request.choices), {}
    if request.response_type == "text":
        from airflow.sdk.definitions.param import Param

        return TEXT_OPTIONS, {ANSWER_PARAM: Param("", type="string", description="Your answer").serialize()}
    return ACKNOWLEDGE_OPTIONS, {}


def _body(request: Request, session_id: str) -> str:
    lines = [f"**Mix session** `{session_id}`", f"**Tool** `{request.tool}`", f"**Request** {request.description}"]
    if request.command:
        lines.append(f"**Command** `{request.command}`")
    if request.path:
        lines.append(f"**Path** `{request.path}`")
    wait = "30 s on a Mix server" if request.kind == "permission" else "the notification's timeout"
    lines.append(f"Mix waits {wait}; an answer after that no longer reaches the agent.")
    return "\n\n".join(lines)


def _cancel_and_fail(operator: AskingOperator, session_id: str, message: str) -> NoReturn:
    with suppress(MixError):
        operator.hook.cancel_session(session_id)
    raise MixSupervisionError(session_id, message)


def ask_person(operator: AskingOperator, context: Any, result: AskEvent) -> NoReturn:
    """Write the human-in-the-loop request for ``result`` and park the task."""
    session_id, request = result.session_id, Request.from_json(result.request)
    if result.decisions.get("asked", 0) > 1:
        _cancel_and_fail(
            operator,
            session_id,
            f"a second request needs a person in this task try ({request.summary()}); Airflow keeps one "
            "human-in-the-loop request per try: decide such requests with rules, the run was cancelled",
        )
    from airflow.sdk.execution_time.hitl import upsert_hitl_detail

    options, params = _options(request)
    ti_id = context["task_instance"].id
    subject = f"Mix agent asks: {request.summary(limit=180)}"
    upsert_hitl_detail(ti_id=ti_id, options=options, subject=subject, body=_body(request, session_id), params=params)
    operator.log.info(
        "Mix %s request %s: asking a person in Airflow's Required Actions", request.kind, request.summary()
    )
    kwargs = {"mix_ask": result.to_json()}
    wait = timedelta(seconds=operator.timeout)  # nobody answering within the turn's timeout fails the task
    if AIRFLOW_V_3_3_PLUS:
        from airflow.sdk.exceptions import TaskAwaitingInput

        raise TaskAwaitingInput(method_name="resume_after_answer", kwargs=kwargs, timeout=wait)
    from airflow.providers.standard.triggers.hitl import HITLTrigger

    until = datetime.now(timezone.utc) + wait
    trigger = HITLTrigger(ti_id=ti_id, options=options, params=params, timeout_datetime=until)
    operator.defer(trigger=trigger, method_name="resume_after_answer", kwargs=kwargs)
    raise AssertionError("defer() returned")  # pragma: no cover


def _who(event: dict[str, Any]) -> str:
    user = event.get("responded_by_user") or {}
    return str(user.get("name") or user.get("id") or "someone") if isinstance(user, dict) else str(user)


def resume_after_answer(operator: AskingOperator, context: Any, event: Any, mix_ask: dict[str, Any] | None) -> Any:
    """Send the person's answer to Mix, then wait for the rest of the turn (here or in the triggerer).

    :raises MixTriggerEventError: the resume lacks what the ask saved.
    :raises MixSupervisionError: no usable answer (nobody answered within the operator's ``timeout``);
        the run was cancelled.
    """
    try:
        asked = AskEvent.model_validate(mix_ask)
    except ValidationError:
        raise MixTriggerEventError("the human-in-the-loop resume lacks the Mix request it answers (mix_ask)") from None
    if asked.turn is None or asked.baseline is None:
        raise MixTriggerEventError("the human-in-the-loop resume lacks the Mix turn it continues (mix_ask)")
    session_id, request = asked.session_id, Request.from_json(asked.request)
    answer: dict[str, Any] = event if isinstance(event, dict) else {}
    chosen = answer.get("chosen_options")
    if not chosen or "error" in answer:
        why = "nobody answered in time" if answer.get("timedout") or "error" in answer else "no option chosen"
        _cancel_and_fail(operator, session_id, f"no answer from a person to {request.summary()} ({why}); run cancelled")
    value = (answer.get("params_input") or {}).get(ANSWER_PARAM) if request.response_type == "text" else chosen[0]
    decision = answer_of(request, str(value or ""))
    operator.log.info(
        "Mix %s request %s: %s, answered by %s", request.kind, request.summary(), decision.describe(), _who(answer)
    )
    decisions = dict(asked.decisions)
    key = {GRANT: "granted", DENY: "denied"}.get(decision.action, "answered")
    decisions[key] = decisions.get(key, 0) + 1
    baseline, turn = asked.baseline, asked.turn
    pending = decision.pending(request)
    if operator.deferrable:
        operator.defer_wait(session_id, baseline, turn, decisions=decisions, answer=pending)
    return operator.execute_complete(
        context, operator.wait_here(session_id, baseline, turn, decisions=decisions, answer=pending)
    )
