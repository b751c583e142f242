"""MixSessionIdleTrigger: waits, in the triggerer, until a session has no run in progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from mix_provider.client.outcome import IdleErrorEvent, IdleEvent
from mix_provider.client.turns import TurnKey, is_idle
from mix_provider.client.validation import positive_number, require_id, require_int
from mix_provider.errors import MixError, is_retryable
from mix_provider.hooks.mix import MixHook
from mix_provider.triggers.settle import hold_early


class MixSessionIdleTrigger(BaseTrigger):  # type: ignore[misc]
    """Fire once the session is idle: the deferrable side of :class:`~mix_provider.sensors.session.MixSessionIdleSensor`.

    Each poll is the sensor's poke, made asynchronously: the transcript is scanned
    (:meth:`MixHook.ascan_transcript <mix_provider.hooks.mix.MixHook.ascan_transcript>`) and judged by
    :func:`~mix_provider.client.turns.is_idle` with the session's callbacks (read once, at the first
    poll), so a callback's injected message is not taken for a new run. Exactly one event is yielded (typed:
    :data:`~mix_provider.client.outcome.IdleWaitEvent`): ``idle``, or ``error`` (a permanent error, or
    more than ``max_failures`` transient ones in a row). The deadline is the
    task's: Airflow cancels the trigger when the sensor's ``timeout`` passes.

    :param session_id: the session to watch.
    :param mix_conn_id: the Mix connection id.
    :param poll_interval: seconds between polls.
    :param max_failures: transient failures in a row tolerated before giving up.
    :param not_before: wall-clock time before which no event is yielded in a triggerer
        (:func:`~mix_provider.triggers.settle.hold_early`: Airflow's defer race).
    """

    def __init__(
        self,
        session_id: str,
        mix_conn_id: str = MixHook.default_conn_name,
        poll_interval: float = 5.0,
        max_failures: int = 5,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.session_id = require_id("session_id", session_id)
        self.mix_conn_id = mix_conn_id
        self.poll_interval = positive_number("poll_interval", poll_interval)
        self.max_failures = require_int("max_failures", max_failures, minimum=0)
        self.not_before = not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs; no secrets."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "session_id": self.session_id,
                "mix_conn_id": self.mix_conn_id,
                "poll_interval": self.poll_interval,
                "max_failures": self.max_failures,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the session is idle; yield one terminal event."""
        hook = MixHook(self.mix_conn_id)
        try:
            outcome = await self._outcome(hook)
        finally:
            await hook.aclose()
        await hold_early(self, self.not_before)
        yield TriggerEvent(outcome.to_json())

    async def _outcome(self, hook: MixHook) -> IdleEvent | IdleErrorEvent:
        failures = 0
        key: TurnKey | None = None
        while True:
            try:
                key = key or TurnKey.of_callbacks((await hook.aget_session(self.session_id)).callbacks)
                idle = is_idle(await hook.ascan_transcript(self.session_id, key), key=key)
                failures = 0
            except MixError as exc:
                failures += 1
                if not is_retryable(exc) or failures > self.max_failures:
                    message = f"waiting for session {self.session_id} to be idle: {type(exc).__name__}: {exc}"
                    return IdleErrorEvent(session_id=self.session_id, message=message)
                self.log.warning("Mix poll failed (%s), %d/%d; retrying", exc, failures, self.max_failures)
                idle = False
            if idle:
                return IdleEvent(session_id=self.session_id)
            self.log.info("Mix session %s is busy", self.session_id)
            await asyncio.sleep(self.poll_interval)
