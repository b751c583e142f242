"""MixSessionIdleSensor: wait until a session has no run in progress."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any

from airflow.providers.common.compat.sdk import BaseSensorOperator

from mix_provider.client.turns import is_idle
from mix_provider.client.validation import require_id
from mix_provider.hooks.mix import MixHook
from mix_provider.templating import check_literal


class MixSessionIdleSensor(BaseSensorOperator):  # type: ignore[misc]
    """Succeed once the session is idle: every run in it has ended (no messages counts as idle).

    Runs are told apart as the reply wait does (the server runs messages concurrently), so an earlier
    run still streaming keeps the session busy even when a later one has finished.

    Uses the same verdict as the event trigger (:func:`mix_provider.client.turns.is_idle`).
    Use ``mode="reschedule"`` for long waits.

    :param session_id: the session to watch (templated).
    :param mix_conn_id: the Mix connection id (templated).
    """

    template_fields: Sequence[str] = ("session_id", "mix_conn_id")

    def __init__(self, *, session_id: str, mix_conn_id: str = MixHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.mix_conn_id = mix_conn_id
        check_literal(partial(require_id, "session_id"), session_id)

    @cached_property
    def hook(self) -> MixHook:
        """The hook of this task run."""
        return MixHook(self.mix_conn_id)

    def poke(self, context: Any) -> bool:
        """One check of the transcript."""
        idle = is_idle(self.hook.scan_transcript(self.session_id))
        self.log.info("Mix session %s is %s", self.session_id, "idle" if idle else "busy")
        return idle
