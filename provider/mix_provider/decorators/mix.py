"""``@task.mix``: the decorated function returns the prompt; the task is one Mix turn.

Options are those of :class:`~mix_provider.operators.message.MixSendMessageOperator` (``session_id``,
``plan_mode``, ``thinking_level``, ``max_steps``, ``timeout``, ``deferrable``,
``fail_on_finish_reasons``, ...)::

    @task.mix(session_id=session.output, output_type=Triage, max_output_retries=2)
    def triage(ticket: str) -> str:
        return f"Triage this ticket, answer in JSON: {ticket}"

Without ``output_type`` the task returns what ``MixSendMessageOperator`` returns. With it, the reply
is parsed as JSON and validated (:mod:`mix_provider.structured`); an invalid reply is rewound
(when an earlier message of the session remains to rewind to, and a rewind can drop exactly that
turn: :mod:`mix_provider.client.rewind`; otherwise the retry follows it, with a warning) and the
prompt is sent again with the validation error, up to ``max_output_retries`` times. The task then returns the parsed value
as JSON (``model_dump(mode="json")``) and pushes the turn's ids, tokens and cost as XCom
``mix_turn``.

Validation, rewind and retry run in the completion handler, as each reply arrives: deferred
(``deferrable=True``, default ``[operators] default_deferrable``), every wait runs in the
triggerer and the task resumes only to check a reply (and send the retry, deferring again), so no
worker slot is held while the agent works. The original prompt and the attempt number are kept in
XCom ``mix_typed`` of the task, read back on resume (a deferral's own kwargs do not survive
``dag.test()``, which resumes with the event alone).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    TaskDecorator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from mix_provider.client.validation import optional_int, require_text
from mix_provider.errors import MixConfigError, MixRewindAmbiguousError, MixTriggerEventError
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.rewind import rewind_target
from mix_provider.structured import MixOutputValidationError, output_adapter, parse_reply, retry_prompt

#: The ``text`` of the operator until the function has returned the prompt.
PROMPT_PLACEHOLDER = "(the prompt the @task.mix function returns)"
#: The XCom key of a typed turn's prompt and attempt number, read back when the task resumes.
TYPED_XCOM = "mix_typed"
#: Keys of the turn result kept in the ``mix_turn`` XCom.
TURN_KEYS = ("session_id", "message_id", "finish_reason", "prompt_tokens", "completion_tokens", "cost")


class _MixDecoratedOperator(DecoratedOperator, MixSendMessageOperator):  # type: ignore[misc]
    """Runs the decorated function for the prompt, then one Mix turn (validated when ``output_type`` is set).

    :param output_type: validate the reply as JSON of this type (a pydantic model, ``list[...]``, ...).
    :param max_output_retries: invalid replies retried with the validation error (>= 0).
    """

    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *MixSendMessageOperator.template_fields)
    template_fields_renderers = {
        **DecoratedOperator.template_fields_renderers,
        **MixSendMessageOperator.template_fields_renderers,
    }
    custom_operator_name = "@task.mix"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        output_type: Any = None,
        max_output_retries: int = 2,
        **kwargs: Any,
    ) -> None:
        retries = optional_int("max_output_retries", max_output_retries, minimum=0)
        self.output_type = output_type
        self.max_output_retries = 2 if retries is None else retries
        if output_type is not None:
            output_adapter(output_type)
            if kwargs.get("wait_for_reply") is False:
                raise MixConfigError("wait_for_reply", "must be True with output_type: the reply is what is validated")
        if kwargs.get("deferrable") is None:
            kwargs.pop("deferrable", None)
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, text=PROMPT_PLACEHOLDER, **kwargs
        )
        self._typed: dict[str, Any] = {}

    def execute(self, context: Any) -> Any:
        """Call the function for the prompt, then run the turn (its reply is checked on completion)."""
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        self.text = require_text("the @task.mix function's return value", self.python_callable(*self.op_args, **kwargs))
        if self.output_type is not None:
            self._save_typed(context, self.text, 1)
        return MixSendMessageOperator.execute(self, context)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        """The turn's result; with ``output_type``, its reply validated, or rewound and retried."""
        result: dict[str, Any] = MixSendMessageOperator.execute_complete(self, context, event)
        if self.output_type is None:
            return result
        return self._typed_result(context, result)

    def _save_typed(self, context: Any, prompt: str, attempt: int) -> None:
        """Keep the typed turn's prompt and attempt number here and in XCom ``mix_typed`` (for a resumed task)."""
        self._typed = {"prompt": prompt, "attempt": attempt}
        context["ti"].xcom_push(key=TYPED_XCOM, value=self._typed)

    def _load_typed(self, context: Any) -> tuple[str, int]:
        if not self._typed:
            ti = context["ti"]
            saved = ti.xcom_pull(task_ids=ti.task_id, key=TYPED_XCOM, map_indexes=ti.map_index)
            if not isinstance(saved, dict) or "prompt" not in saved:
                raise MixTriggerEventError(f"the resumed @task.mix lacks its typed turn's state (XCom {TYPED_XCOM})")
            self._typed = saved
        return str(self._typed["prompt"]), int(self._typed["attempt"])

    def _typed_result(self, context: Any, result: dict[str, Any]) -> Any:
        """The validated value; an invalid reply is rewound and the prompt sent again (deferring again)."""
        adapter = output_adapter(self.output_type)
        prompt, attempt = self._load_typed(context)
        try:
            if result.get("reply_truncated"):
                raise ValueError("the reply is longer than the XCom limit and was cut")
            value = parse_reply(result["reply"], adapter)
        except ValueError as exc:
            error = str(exc)
            self.log.warning("Mix reply %s (attempt %d) is not valid: %s", result["message_id"], attempt, error)
            if attempt > self.max_output_retries:
                raise MixOutputValidationError(result["session_id"], attempt, error) from None
            self._rewind(result)
            self._save_typed(context, prompt, attempt + 1)
            self.text = retry_prompt(prompt, error, adapter)
            return MixSendMessageOperator.execute(self, context)
        context["ti"].xcom_push(key="mix_turn", value={**{k: result.get(k) for k in TURN_KEYS}, "attempts": attempt})
        return adapter.dump_python(value, mode="json")

    def _rewind(self, result: dict[str, Any]) -> None:
        """Drop the invalid turn before retrying, when a rewind can drop exactly that turn; otherwise the
        retry follows it (the turn opened the session, or the server lists its first second interleaved
        with what came before: :class:`~mix_provider.errors.MixRewindAmbiguousError`)."""
        session_id = result["session_id"]
        try:
            target = rewind_target(self.hook, session_id, result)
        except MixRewindAmbiguousError as exc:
            self.log.warning("Retrying after the invalid turn, without a rewind: %s", exc)
            return
        if target is None:
            self.log.info("The invalid turn opened session %s: retrying after it, without a rewind", session_id)
            return
        self.hook.rewind_session(session_id, target)
        self.log.info("Rewound session %s to %s before retrying", session_id, target)


def mix_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.mix``: wrap a function returning the prompt into a Mix turn (see the module docstring).

    :param python_callable: the decorated function.
    """
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=_MixDecoratedOperator, **kwargs
    )
