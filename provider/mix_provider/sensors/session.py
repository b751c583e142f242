"""MixSessionIdleSensor: wait until a session has no run in progress, poking or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property, partial
from typing import Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, conf

from mix_provider.client.outcome import IdleErrorEvent, parse_idle_event
from mix_provider.client.turns import TurnKey, is_idle
from mix_provider.client.validation import require_bool, require_id
from mix_provider.errors import MixTriggerEventError
from mix_provider.hooks.mix import MixHook
from mix_provider.templating import check_literal
from mix_provider.triggers.idle import MixSessionIdleTrigger
from mix_provider.triggers.settle import settle_deadline


class MixSessionIdleSensor(BaseSensorOperator):  # type: ignore[misc]
    """Succeed once the session is idle: every run in it has ended (no messages counts as idle).

    Runs are told apart as the reply wait does (the server runs messages concurrently), so an earlier
    run still streaming keeps the session busy even when a later one has finished.

    A poke and a poll of the deferred wait (:class:`~mix_provider.triggers.idle.MixSessionIdleTrigger`)
    make the same check: :func:`mix_provider.client.turns.is_idle` of the scanned transcript, with the
    session's callbacks (read once), so a callback's injected message is not taken for a new run. With
    ``deferrable=True`` the task checks once, then waits in the triggerer, holding no worker slot;
    ``poke_interval`` is the trigger's poll interval and ``timeout`` its deadline.

    :param session_id: the session to watch (templated).
    :param mix_conn_id: the Mix connection id (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("session_id", "mix_conn_id")

    def __init__(
        self,
        *,
        session_id: str,
        mix_conn_id: str = MixHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.mix_conn_id = mix_conn_id
        self.deferrable = require_bool("deferrable", deferrable)
        check_literal(partial(require_id, "session_id"), session_id)

    @cached_property
    def hook(self) -> MixHook:
        """The hook of this task run."""
        return MixHook(self.mix_conn_id)

    @cached_property
    def runs_key(self) -> TurnKey:
        """The session's callbacks, read once per task try: their injected messages and results
        belong to the run that caused them (:func:`~mix_provider.client.turns.session_runs`)."""
        return TurnKey.of_callbacks(self.hook.get_session(require_id("session_id", self.session_id)).callbacks)

    def poke(self, context: Any) -> bool:
        """One check of the transcript."""
        key = self.runs_key
        idle = is_idle(self.hook.scan_transcript(require_id("session_id", self.session_id), key), key=key)
        self.log.info("Mix session %s is %s", self.session_id, "idle" if idle else "busy")
        return idle

    def execute(self, context: Any) -> Any:
        """Poke (or reschedule) as any sensor; deferrable: check once, then wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        trigger = MixSessionIdleTrigger(
            self.session_id, self.mix_conn_id, poll_interval=self.poke_interval, not_before=settle_deadline()
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The trigger's event: ``idle`` succeeds, ``error`` fails the task.

        :raises MixWaitFailedError: the wait ended in an ``error`` event.
        :raises MixTriggerEventError: the event breaks the trigger's contract.
        """
        try:
            result = parse_idle_event(event)
        except ValueError as exc:
            raise MixTriggerEventError(str(exc)) from None
        if isinstance(result, IdleErrorEvent):
            raise result.to_error()
        self.log.info("Mix session %s is idle", result.session_id)
