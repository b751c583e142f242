"""Recovery drills on the distributed Airflow (after test_distributed_airflow.py, on the same cluster):
a killed Celery worker restarted and its try redelivered, one of two schedulers killed, PostgreSQL and
Redis restarted mid-turn, the local Mix server restarted while a supervised turn waits for a person.

Each checks that every turn completes once, that no message is sent twice, that every transcript holds
its finished reply, and that what a user sees of a failure, if any, is a named Mix error. A component
that exits because a service it needs went away is started again (as systemd or Kubernetes would);
the summary says which.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from dist_cluster import SCHEDULERS, DistributedAirflow, MetadataDB
from drill_support import (
    RUN_TIMEOUT_S,
    TRIGGERER_DRILL,
    by_role,
    check_turns_once,
    defer_turns,
    finished_replies,
    note,
    transcript,
    wait_until,
)

from airflow_stack.postgres import PostgresCluster
from airflow_stack.redis import RedisServer
from airflow_stack.report import SUMMARY
from airflow_stack.rest import AirflowRest
from mix_provider import errors
from mix_provider.devserver.testing import MixDevServer

pytestmark = pytest.mark.timeout(1200)

WORKER_DRILL = "mix_drill_worker"
SUPERVISED_DRILL = "mix_drill_supervised"
#: How long each drill turn's reply streams: the outage and the recovery happen while it does.
TURN_DELAY_MS = 25_000
#: The blocking turn's reply time: it still runs when the deferred turns are waited for.
BLOCKING_DELAY_MS = 45_000
#: The restarted worker's visibility timeout: Redis gives the unacknowledged message of the killed
#: worker back to the queue this long after its delivery (Airflow's default is a day). Longer than
#: the redelivered try takes to be refused, so that it is not handed out a third time.
REDELIVERY_VISIBILITY_S = "15"


def watch_through(cluster: DistributedAirflow, rest: AirflowRest, dag_id: str, run_id: str) -> tuple[str, list[str]]:
    """Watch a run to its end through an outage: REST errors are waited out, and a component that
    exited is started again. The run's final state and the components restarted."""
    revived: list[str] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        revived += cluster.revive()
        try:
            state = str(rest.json("GET", rest.run_path(dag_id, run_id))["state"])
        except (httpx.HTTPError, ValueError):
            state = "unknown"
        if state in ("success", "failed"):
            return state, revived
        time.sleep(1)
    return "timeout", revived


def received(cluster: DistributedAirflow, celery_id: str) -> int:
    """How many times the Celery workers received the Celery task ``celery_id``."""
    needle = f"[{celery_id}] received"
    logs = [cluster.processes[name].log_path for name in cluster.processes if name.startswith("worker-")]
    return sum(path.read_bytes().decode(errors="replace").count(needle) for path in logs)


def test_killed_worker_restarted_redelivers_its_try_once(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer, metadata_db: MetadataDB
) -> None:
    """The worker killed mid-turn (test_worker_killed_mid_turn) comes back: Redis hands it the
    unacknowledged message of try 1 once more; Airflow refuses to run that finished try again, so
    nothing is sent to Mix and the run's outcome stays as it was."""
    drill = SUMMARY.get("drill_worker")
    assert drill, "runs after test_worker_killed_mid_turn (the same pytest session)"
    victim, run_id, session_id = drill["killed"], drill["run_id"], drill["session_id"]
    [(celery_id,)] = metadata_db.rows(
        "SELECT external_executor_id FROM task_instance_history "
        "WHERE dag_id = %s AND run_id = %s AND task_id = 'turn' AND try_number = 1",
        WORKER_DRILL,
        run_id,
    )
    assert received(cluster, celery_id) == 1
    tries_before = [(t["try_number"], t["state"]) for t in rest.tries(WORKER_DRILL, run_id, "turn")]
    result_before = rest.xcom(WORKER_DRILL, run_id, "turn")
    note(f"restarting {victim}; waiting for Celery task {celery_id} (try 1) to come back")
    started = time.monotonic()
    cluster.restart(victim, AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=REDELIVERY_VISIBILITY_S)
    wait_until(lambda: received(cluster, celery_id) >= 2, 300, "the try-1 message redelivered")
    redelivered_after = time.monotonic() - started

    def ended() -> bool:
        text = "".join(cluster.processes[name].log_tail(200_000) for name in cluster.processes if "worker" in name)
        return f"[{celery_id}] succeeded" in text or f"[{celery_id}] raised" in text

    wait_until(ended, 300, "the redelivered Celery task to end")
    count = received(cluster, celery_id)
    cluster.restart(victim)  # back to the default visibility timeout, before other drills run tasks
    messages = transcript(mix_server, session_id)
    SUMMARY["drill_redelivery"] = {
        "restarted": victim,
        "celery_task": celery_id,
        "received": count,
        "redelivered_after_restart_s": round(redelivered_after, 1),
    }
    note(f"{victim}: try 1 redelivered {count - 1} time(s), {redelivered_after:.1f} s after the restart")

    assert count == 2, "redelivered exactly once"
    assert [(t["try_number"], t["state"]) for t in rest.tries(WORKER_DRILL, run_id, "turn")] == tries_before
    assert rest.xcom(WORKER_DRILL, run_id, "turn") == result_before
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/messages") == 1
    assert len(by_role(messages, "user")) == 1, messages
    assert len(by_role(messages, "assistant")) == finished_replies(messages) == 1, messages


def test_one_of_two_schedulers_killed_mid_run(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer, metadata_db: MetadataDB
) -> None:
    """kill -9 one of the two schedulers while three turns wait in the triggerer: the other one
    resumes them; each completes once, on its first try."""
    run_id, sessions, _ = defer_turns(rest, mix_server, metadata_db, TURN_DELAY_MS)
    victim = SCHEDULERS[0]
    note(f"killing {victim}")
    killed_at = cluster.kill(victim)
    state, revived = watch_through(cluster, rest, TRIGGERER_DRILL, run_id)
    SUMMARY["drill_scheduler"] = {
        "killed": victim,
        "state": state,
        "done_after_kill_s": round(time.monotonic() - killed_at, 1),
        "restarted": revived,
    }
    note(f"{TRIGGERER_DRILL}: {state} with {victim} dead")
    assert state == "success", SUMMARY["drill_scheduler"]
    assert not revived, revived
    check_turns_once(rest, mix_server, TRIGGERER_DRILL, run_id, sessions)


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_service_restarted_mid_turn(
    cluster: DistributedAirflow,
    rest: AirflowRest,
    mix_server: MixDevServer,
    metadata_db: MetadataDB,
    postgres: PostgresCluster,
    redis: RedisServer,
    service: str,
) -> None:
    """Restart PostgreSQL (every session cut) or Redis (every queued message lost) while three turns
    wait in the triggerer and a blocking turn runs in a worker: every turn completes once."""
    blocking_run = rest.trigger(WORKER_DRILL, {"delay_ms": BLOCKING_DELAY_MS})
    run_id, sessions, _ = defer_turns(rest, mix_server, metadata_db, TURN_DELAY_MS)

    def blocking_in_flight() -> str | None:
        if rest.task_instance(WORKER_DRILL, blocking_run, "turn")["state"] != "running":
            return None
        sid = str(rest.xcom(WORKER_DRILL, blocking_run, "create_session"))
        return sid if mix_server.request_count("POST", f"/api/sessions/{sid}/messages") else None

    blocking_session = wait_until(blocking_in_flight, RUN_TIMEOUT_S, "the blocking turn running")
    note(f"restarting {service}")
    started = time.monotonic()
    (postgres if service == "postgres" else redis).restart()
    outage_s = time.monotonic() - started
    state, revived = watch_through(cluster, rest, TRIGGERER_DRILL, run_id)
    blocking_state, revived_later = watch_through(cluster, rest, WORKER_DRILL, blocking_run)
    tries = [(t["try_number"], t["state"]) for t in rest.tries(WORKER_DRILL, blocking_run, "turn")]
    SUMMARY[f"drill_{service}"] = {
        "restart_s": round(outage_s, 1),
        "turns": state,
        "blocking_turn": blocking_state,
        "blocking_tries": tries,
        "done_after_restart_s": round(time.monotonic() - started, 1),
        "components_restarted": revived + revived_later,
    }
    note(f"{service} restarted: {SUMMARY[f'drill_{service}']}")
    assert (state, blocking_state) == ("success", "success"), SUMMARY[f"drill_{service}"]
    check_turns_once(rest, mix_server, TRIGGERER_DRILL, run_id, sessions)
    # The blocking turn may have needed its retry (a worker that lost its database re-attaches).
    check_turns_once(rest, mix_server, WORKER_DRILL, blocking_run, {"turn": blocking_session}, tries=len(tries))


def named_errors(rest: AirflowRest, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
    """The provider's typed errors (``mix_provider.errors``) named anywhere in one try's log."""
    path = f"{rest.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}"
    body = rest.json("GET", path, params={"full_content": True}, headers={"Accept": "application/json"})
    found = set(re.findall(r"\bMix[A-Za-z]*Error\b", json.dumps(body)))
    return sorted(name for name in found if isinstance(getattr(errors, name, None), type))


def _asked(rest: AirflowRest, run_id: str) -> dict[str, Any] | None:
    ti = rest.task_instance(SUPERVISED_DRILL, run_id, "turn")
    assert ti["state"] not in ("failed", "success", "upstream_failed"), ti
    if ti["state"] != "awaiting_input":
        return None
    response = rest.request("GET", f"{rest.run_path(SUPERVISED_DRILL, run_id)}/taskInstances/turn/-1/hitlDetails")
    return dict(response.json()) if response.status_code == 200 else None


def test_mix_server_restarted_while_a_person_is_asked(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer
) -> None:
    """The Mix server crashes and comes back while a supervised turn waits for a person; the person
    then grants. The turn ends once: with the reply, or failed with a named Mix error. One user
    message, and every reply in the transcript finished."""
    rest.wait_dag(SUPERVISED_DRILL)
    run_id = rest.trigger(SUPERVISED_DRILL)
    wait_until(lambda: _asked(rest, run_id), RUN_TIMEOUT_S, "the turn to ask a person")
    session_id = str(rest.xcom(SUPERVISED_DRILL, run_id, "create_session"))
    note("the turn waits for a person: crashing the Mix server and starting it again")
    mix_server.kill()
    mix_server.start()
    path = f"{rest.run_path(SUPERVISED_DRILL, run_id)}/taskInstances/turn/-1/hitlDetails"
    rest.json("PATCH", path, json={"chosen_options": ["Grant"], "params_input": {}})
    state, revived = watch_through(cluster, rest, SUPERVISED_DRILL, run_id)
    ti = rest.task_instance(SUPERVISED_DRILL, run_id, "turn")
    named = named_errors(rest, SUPERVISED_DRILL, run_id, "turn", ti["try_number"])
    messages = transcript(mix_server, session_id)
    SUMMARY["drill_mix_restart"] = {"state": state, "tries": ti["try_number"], "errors": named, "restarted": revived}
    note(f"{SUPERVISED_DRILL}: {SUMMARY['drill_mix_restart']}")

    assert state in ("success", "failed"), state
    assert ti["try_number"] == 1, ti
    assert len(by_role(messages, "user")) == 1, messages
    assert len(by_role(messages, "assistant")) == finished_replies(messages) >= 1, messages
    if state == "success":
        assert rest.xcom(SUPERVISED_DRILL, run_id, "turn")["message_id"] == by_role(messages, "assistant")[-1]["id"]
    else:
        assert named, "the failure names no error of mix_provider.errors"
