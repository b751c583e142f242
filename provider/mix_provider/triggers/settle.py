"""Airflow's defer race, held off: a trigger that deferred a task yields no event before the deferral settled.

Airflow's scheduler fails a resumed task as "state changed externally" when it reads that the deferring
process exited only after the trigger fired and the task was queued again, on the same try
(apache/airflow#66374, #71580, #72716). The task supervisor notices that exit up to 5 s late
(``[workers] min_heartbeat_interval``), and a permission request or an idle session can reach a trigger
within milliseconds. The real server waits 30 s for a permission's answer (``permission.go``
``Request``), so a request held this long can still be answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.providers.common.compat.sdk import conf

from mix_provider.defaults import DEFER_SETTLE, DEFER_SETTLE_OPTION, option_label
from mix_provider.errors import MixConfigError


def settle_seconds() -> float:
    """The configured hold, ``[mix] defer_settle_seconds``: 0 turns it off, negative is refused.

    :raises MixConfigError: when the option is not a number >= 0.
    """
    raw = conf.get(*DEFER_SETTLE_OPTION, fallback=str(DEFER_SETTLE))
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise MixConfigError(
            option_label(DEFER_SETTLE_OPTION), f"expected a number of seconds >= 0 (0 turns the hold off), got {raw!r}"
        )
    return seconds


def settle_deadline() -> float:
    """The ``not_before`` of a trigger deferred now (``time.time()`` seconds)."""
    return time.time() + settle_seconds()


async def hold_early(trigger: Any, not_before: float | None) -> None:
    """Sleep until ``not_before`` when ``trigger`` runs in a triggerer.

    ``dag.test()`` runs a trigger inline, without a ``task_instance``: nothing races there.
    """
    early = (not_before or 0.0) - time.time()
    if early > 0 and getattr(trigger, "task_instance", None) is not None:
        trigger.log.info("Holding the event %.1f s until Airflow has settled the deferral", early)
        await asyncio.sleep(early)
