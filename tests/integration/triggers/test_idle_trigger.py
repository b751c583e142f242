"""MixSessionIdleTrigger against the local server, and the deferrable MixSessionIdleSensor through dag.test()."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from mix_provider.sensors.session import MixSessionIdleSensor
from mix_provider.triggers.idle import MixSessionIdleTrigger
from support.integration import MixAPI, dag_bundles, final_reply, run_dag, states

__all__ = ["dag_bundles", "run_dag"]


async def _first(trigger: MixSessionIdleTrigger, timeout: float = 20) -> dict[str, Any]:
    events = trigger.run()
    try:
        payload: dict[str, Any] = (await asyncio.wait_for(anext(events), timeout)).payload
        return payload
    finally:
        await events.aclose()


async def test_fires_idle_once_the_run_has_ended(api: MixAPI) -> None:
    session_id = api.create_session("idle trigger")["id"]
    api.send(session_id, "slow [[delay:1500]]")
    api.wait_running(session_id)
    event = await _first(MixSessionIdleTrigger(session_id, poll_interval=0.1))
    assert event == {"status": "idle", "session_id": session_id}
    assert final_reply(api.export(session_id))["finishReason"] == "end_turn"


@pytest.mark.integration
async def test_in_a_triggerer_an_idle_session_is_reported_once_the_deferral_settled(api: MixAPI) -> None:
    """Idle at once, but the event waits for ``not_before`` (Airflow's defer race, triggers.settle)."""
    session_id = api.create_session("idle at once")["id"]
    trigger = MixSessionIdleTrigger(session_id, poll_interval=0.1, not_before=time.time() + 0.6)
    trigger.task_instance = SimpleNamespace(task_id="wait_idle")
    started = time.monotonic()
    assert await _first(trigger) == {"status": "idle", "session_id": session_id}
    assert time.monotonic() - started >= 0.55


async def test_an_unknown_session_ends_in_an_error_event(api: MixAPI) -> None:
    event = await _first(MixSessionIdleTrigger("no-such-session", poll_interval=0.1))
    assert event["status"] == "error" and "MixNotFoundError" in event["message"]


def test_serializes_ids_and_numbers_only() -> None:
    classpath, kwargs = MixSessionIdleTrigger("s1", "mix_x", poll_interval=2).serialize()
    assert classpath == "mix_provider.triggers.idle.MixSessionIdleTrigger"
    assert kwargs == {
        "session_id": "s1",
        "mix_conn_id": "mix_x",
        "poll_interval": 2.0,
        "max_failures": 5,
        "not_before": None,
    }
    assert MixSessionIdleTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.integration
def test_the_deferrable_sensor_waits_in_the_trigger_not_the_worker(
    run_dag: Any, api: MixAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.sdk import DAG

    seen: dict[str, list[Any]] = {"pokes": [], "trigger_runs": [], "events": []}
    poke, run, complete = MixSessionIdleSensor.poke, MixSessionIdleTrigger.run, MixSessionIdleSensor.execute_complete

    def counting_poke(self: Any, context: Any) -> bool:
        seen["pokes"].append(poke(self, context))
        return bool(seen["pokes"][-1])

    async def counting_run(self: Any) -> Any:
        seen["trigger_runs"].append(self.session_id)
        api.cancel(self.session_id)  # the run ends while the trigger waits
        async for event in run(self):
            yield event

    def recording_complete(self: Any, context: Any, event: Any = None) -> None:
        seen["events"].append(event)
        complete(self, context, event)

    monkeypatch.setattr(MixSessionIdleSensor, "poke", counting_poke)
    monkeypatch.setattr(MixSessionIdleTrigger, "run", counting_run)
    monkeypatch.setattr(MixSessionIdleSensor, "execute_complete", recording_complete)
    session_id = api.create_session("deferrable idle sensor")["id"]
    api.send(session_id, "slow [[delay:120000]]")
    api.wait_running(session_id)
    with DAG("mix_idle_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        MixSessionIdleSensor(task_id="idle", session_id=session_id, deferrable=True, poke_interval=0.2, timeout=60)
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    assert seen["pokes"] == [False], "the worker checked once, then deferred"
    assert seen["trigger_runs"] == [session_id]
    assert seen["events"] == [{"status": "idle", "session_id": session_id}]
    assert final_reply(api.export(session_id))["finishReason"] == "canceled"


@pytest.mark.parametrize(
    "event", [None, {"status": "done", "session_id": "s"}, {"status": "idle"}], ids=["none", "unknown", "no-id"]
)
def test_an_event_breaking_the_contract_fails(event: Any) -> None:
    from mix_provider.errors import MixTriggerEventError

    with pytest.raises(MixTriggerEventError):
        MixSessionIdleSensor(task_id="idle", session_id="s").execute_complete({}, event)


def test_an_error_event_fails_with_its_message() -> None:
    from mix_provider.errors import MixWaitFailedError

    with pytest.raises(MixWaitFailedError, match="gone"):
        MixSessionIdleSensor(task_id="idle", session_id="s").execute_complete(
            {}, {"status": "error", "session_id": "s", "message": "gone"}
        )
