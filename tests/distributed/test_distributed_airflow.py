"""A distributed Airflow, proven: the example DAGs through a real scheduler, Celery workers and two
triggerers, then two failure drills against the local Mix server.

The tests share one cluster and run in file order. The drills kill processes: after
``test_triggerer_killed_while_turns_are_deferred`` one triggerer is left, after
``test_worker_killed_mid_turn`` one Celery worker.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from dist_cluster import TRIGGERERS, WORKERS, DistributedAirflow, MetadataDB
from drill_support import (
    DRILL_TURNS,
    RUN_TIMEOUT_S,
    TRIGGERER_DRILL,
    by_role,
    defer_turns,
    finished_replies,
    note,
    transcript,
    wait_until,
)

from airflow_stack.postgres import PostgresCluster
from airflow_stack.redis import RedisServer
from airflow_stack.report import SUMMARY, timed
from airflow_stack.rest import AirflowRest, RunWatch
from mix_provider.devserver.testing import MixDevServer

# Generous: the first test also pays for starting everything (about 1 min when the machine is idle).
pytestmark = pytest.mark.timeout(1800)

LIFECYCLE_DAG = "mix_session_lifecycle"
ARCHIVE_DAG = "mix_archive_transcripts"
WORKER_DRILL = "mix_drill_worker"
#: How long each drill turn's reply streams: longer than failure detection plus recovery, so the
#: replacement picks up a turn still in flight.
TRIGGERER_DRILL_DELAY_MS = 45_000
WORKER_DRILL_DELAY_MS = 60_000
#: What the operator logs when a retry finds the message an earlier try sent.
REATTACH_LOG = "An earlier try already sent this message"


def run_example(rest: AirflowRest, dag_id: str, conf: dict[str, Any] | None = None, **trigger: Any) -> RunWatch:
    """Run one DAG through the scheduler to success (or fail with its tasks' logs)."""
    note(f"running {dag_id}")
    with timed(f"dag_{dag_id}"):
        watch = rest.run_dag(dag_id, conf, timeout=RUN_TIMEOUT_S, **trigger)
    SUMMARY[f"timeline_{dag_id}"] = watch.timeline
    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))
    note(f"{dag_id}: success in {SUMMARY['timings_s'][f'dag_{dag_id}']} s")
    return watch


def celery_tasks_received(cluster: DistributedAirflow) -> dict[str, int]:
    """How many Airflow workloads each Celery worker has received so far (from its log)."""
    counts = {}
    for name in WORKERS:
        text = cluster.processes[name].log_path.read_bytes().decode(errors="replace")
        counts[name] = sum(1 for line in text.splitlines() if "execute_workload" in line and "received" in line)
    return counts


def test_every_process_listens_on_loopback_only(
    cluster: DistributedAirflow, postgres: PostgresCluster, redis: RedisServer, mix_server: MixDevServer
) -> None:
    """Each component, PostgreSQL, Redis and the Mix server listen on 127.0.0.1 only."""
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().splitlines()[0])
    others = {"postgres": postmaster, "redis": redis.process.pid, "mix-devserver": int(mix_server.pid or 0)}
    listening = cluster.listening(others)
    SUMMARY["listening"] = listening
    assert {"api-server", "postgres", "redis", "mix-devserver"} <= set(listening), listening
    assert all(address.startswith("127.0.0.1:") for addresses in listening.values() for address in addresses), listening


def test_lifecycle_dag_on_celery_workers_and_triggerers(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer, session_ledger: Path
) -> None:
    """``mix_session_lifecycle`` succeeds through the scheduler; both turns waited in a triggerer; the
    session a worker created and another task deleted left the ledger again."""
    watch = run_example(rest, LIFECYCLE_DAG)
    instances = {ti["task_id"]: ti for ti in rest.task_instances(LIFECYCLE_DAG, watch.run_id)}
    senders = sorted(task for task, ti in instances.items() if ti["operator"] == "MixSendMessageOperator")
    events = rest.task_events(LIFECYCLE_DAG, watch.run_id)
    SUMMARY["celery_workloads_received_after_lifecycle"] = celery_tasks_received(cluster)

    assert len(senders) == 2, sorted(instances)
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in instances.values()), instances
    for task_id in senders:
        # Deferred, then resumed on the same try once the trigger fired.
        assert [e for e, _ in events[task_id]] == ["running", "deferred", "running", "success"], events[task_id]
    session_id = rest.xcom(LIFECYCLE_DAG, watch.run_id, "create_session")
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/messages") == 2
    assert mix_server.request_count("DELETE", f"/api/sessions/{session_id}") == 1
    assert httpx.get(f"{mix_server.base_url}/api/sessions/{session_id}").status_code == 404
    assert (session_ledger / "mix_default" / ".writable").is_file(), "a worker proved the ledger writable"
    assert not (session_ledger / "mix_default" / f"{session_id}.json").exists(), "the delete task forgot it"


def test_archive_dag_on_celery_workers(rest: AirflowRest, mix_server: MixDevServer, tmp_path: Path) -> None:
    """``mix_archive_transcripts`` writes the seeded session's transcript and a manifest."""
    session_id = str(mix_server.seed_large_session(title="distributed archive", messages=6, message_bytes=2000)["id"])
    messages = httpx.get(f"{mix_server.base_url}/api/sessions/{session_id}/messages").json()
    logical_date = datetime.now(timezone.utc)
    tmp_path.chmod(0o777)
    run_example(rest, ARCHIVE_DAG, {"base_path": str(tmp_path)}, logical_date=logical_date.isoformat())

    partition = tmp_path / f"dt={logical_date.date().isoformat()}"
    parts = [json.loads(part.read_text())["sessions"] for part in sorted((partition / "manifest.d").glob("*.json"))]
    entry = next(sessions[session_id] for sessions in reversed(parts) if session_id in sessions)
    data = (partition / entry["path"]).read_bytes()
    assert (entry["sha256"], entry["bytes"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert entry["messages"] == len(messages)
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert len(lines) >= len(messages)


def test_triggerer_killed_while_turns_are_deferred(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer, metadata_db: MetadataDB
) -> None:
    """kill -9 the triggerer holding three deferred turns: the other one takes them over and each
    turn completes once, on its first try, with one message sent and one reply."""
    dag_run_started = time.monotonic()
    streams_before = mix_server.request_count("GET", "/stream")
    with timed("drill_triggerer_until_all_deferred"):
        run_id, sessions, assignment = defer_turns(rest, mix_server, metadata_db, TRIGGERER_DRILL_DELAY_MS)
    replies_at_kill = {task: finished_replies(transcript(mix_server, sid)) for task, sid in sessions.items()}
    streams_at_kill = mix_server.request_count("GET", "/stream")

    job_names = {job: name for name, job in cluster.triggerer_jobs.items()}
    victim_job, held = Counter(assignment.values()).most_common(1)[0]
    victim = job_names[victim_job]
    survivor = next(name for name in TRIGGERERS if name != victim)
    survivor_job = cluster.triggerer_jobs[survivor]
    note(f"killing {victim} (job {victim_job}, holds {held} of {len(DRILL_TURNS)} triggers: {assignment})")
    killed_at = cluster.kill(victim)

    def taken_over() -> dict[str, int | None] | None:
        now = metadata_db.trigger_assignment(TRIGGERER_DRILL, run_id)
        states = {ti["task_id"]: ti["state"] for ti in rest.task_instances(TRIGGERER_DRILL, run_id)}
        # A turn is over when it has no trigger left or succeeded; the others must be on the survivor.
        if all(task not in now or now[task] == survivor_job or states[task] == "success" for task in DRILL_TURNS):
            return now or {"done": None}
        return None

    wait_until(taken_over, 300, f"the triggers to move to {survivor}", interval=0.5)
    taken_over_after = time.monotonic() - killed_at
    note(f"{survivor} holds the triggers {taken_over_after:.1f} s after the kill")
    watch = rest.watch_run(TRIGGERER_DRILL, run_id, timeout=RUN_TIMEOUT_S)
    done_after = time.monotonic() - killed_at
    SUMMARY["timings_s"]["drill_triggerer_total"] = round(time.monotonic() - dag_run_started, 1)
    instances = {ti["task_id"]: ti for ti in rest.task_instances(TRIGGERER_DRILL, run_id)}
    messages = {task: transcript(mix_server, sid) for task, sid in sessions.items()}
    SUMMARY["drill_triggerer"] = {
        "killed": victim,
        "triggers_held_by_killed": held,
        "assignment_before_kill": assignment,
        "replies_finished_at_kill": replies_at_kill,
        "triggers_on_survivor_after_s": round(taken_over_after, 1),
        "all_turns_done_after_kill_s": round(done_after, 1),
        "sse_streams_opened_before_kill": streams_at_kill - streams_before,
        "sse_streams_opened_after_kill": mix_server.request_count("GET", "/stream") - streams_at_kill,
        "timeline": watch.timeline,
    }
    note(f"{TRIGGERER_DRILL}: {watch.state}, all turns done {done_after:.1f} s after the kill")

    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))
    # The kill came while every reply was still streaming, and the survivor followed the turns anew.
    assert all(count == 0 for count in replies_at_kill.values()), replies_at_kill
    assert mix_server.request_count("GET", "/stream") - streams_at_kill >= held
    reply_ids = set()
    for task, sid in sessions.items():
        ti = instances[task]
        assert (ti["state"], ti["try_number"]) == ("success", 1), ti
        assert mix_server.request_count("POST", f"/api/sessions/{sid}/messages") == 1, task
        assert len(by_role(messages[task], "user")) == 1, messages[task]
        assert len(by_role(messages[task], "assistant")) == finished_replies(messages[task]) == 1, messages[task]
        result = rest.xcom(TRIGGERER_DRILL, run_id, task)
        assert result["session_id"] == sid
        assert result["reply"], result
        reply_ids.add(result["message_id"])
    assert len(reply_ids) == len(DRILL_TURNS)


def test_worker_killed_mid_turn(
    cluster: DistributedAirflow, rest: AirflowRest, mix_server: MixDevServer, session_ledger: Path
) -> None:
    """kill -9 the Celery worker running a blocking turn: the scheduler fails the silent try, the
    retry on the other worker re-attaches to the message already sent, and the session holds one
    user message for the turn. The worker that created the session recorded it in the ledger."""
    dag_run_started = time.monotonic()
    rest.wait_dag(WORKER_DRILL)
    run_id = rest.trigger(WORKER_DRILL, {"delay_ms": WORKER_DRILL_DELAY_MS})
    note(f"{WORKER_DRILL}: triggered {run_id}")

    def in_flight() -> tuple[dict[str, Any], str] | None:
        ti = rest.task_instance(WORKER_DRILL, run_id, "turn")
        assert ti["state"] not in ("failed", "upstream_failed"), ti
        if ti["state"] != "running" or not ti.get("pid"):
            return None
        sid = str(rest.xcom(WORKER_DRILL, run_id, "create_session"))
        if mix_server.request_count("POST", f"/api/sessions/{sid}/messages") < 1:
            return None
        return ti, sid

    with timed("drill_worker_until_message_sent"):
        ti, session_id = wait_until(in_flight, RUN_TIMEOUT_S, "the turn running with its message sent")
    victim = cluster.worker_running(int(ti["pid"]))
    assert victim is not None, f"task pid {ti['pid']} is in no Celery worker's process tree"
    replies_at_kill = finished_replies(transcript(mix_server, session_id))
    note(f"killing {victim} (task pid {ti['pid']}, try {ti['try_number']})")
    killed_at = cluster.kill(victim)

    def try_one_over() -> dict[str, Any] | None:
        current = rest.task_instance(WORKER_DRILL, run_id, "turn")
        return current if current["try_number"] > 1 or current["state"] != "running" else None

    detected = wait_until(try_one_over, 300, "the scheduler to notice the dead try", interval=0.5)
    detected_after = time.monotonic() - killed_at
    note(f"try 1 left 'running' {detected_after:.1f} s after the kill (now {detected['state']})")

    def try_two_running() -> dict[str, Any] | None:
        current = rest.task_instance(WORKER_DRILL, run_id, "turn")
        return current if current["try_number"] == 2 and current["state"] in ("running", "success") else None

    wait_until(try_two_running, 300, "try 2 to start", interval=0.5)
    retry_started_after = time.monotonic() - killed_at
    replies_at_retry = finished_replies(transcript(mix_server, session_id))
    note(f"try 2 running {retry_started_after:.1f} s after the kill")
    watch = rest.watch_run(WORKER_DRILL, run_id, timeout=RUN_TIMEOUT_S)
    done_after = time.monotonic() - killed_at
    SUMMARY["timings_s"]["drill_worker_total"] = round(time.monotonic() - dag_run_started, 1)
    tries = rest.tries(WORKER_DRILL, run_id, "turn")
    final = rest.task_instance(WORKER_DRILL, run_id, "turn")
    messages = transcript(mix_server, session_id)
    SUMMARY["drill_worker"] = {
        "killed": victim,
        "run_id": run_id,
        "session_id": session_id,
        "try_1_left_running_after_s": round(detected_after, 1),
        "try_1_seen_as": detected["state"],
        "try_2_running_after_s": round(retry_started_after, 1),
        "turn_done_after_kill_s": round(done_after, 1),
        "replies_finished_at_kill": replies_at_kill,
        "replies_finished_when_try_2_started": replies_at_retry,
        "tries": [(t["try_number"], t["state"], t.get("hostname")) for t in tries],
        "timeline": watch.timeline,
    }
    note(f"{WORKER_DRILL}: {watch.state}, turn done {done_after:.1f} s after the kill")

    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))
    assert (final["state"], final["try_number"]) == ("success", 2), final
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")], tries
    assert replies_at_kill == 0
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/messages") == 1
    assert len(by_role(messages, "user")) == 1, messages
    assert len(by_role(messages, "assistant")) == finished_replies(messages) == 1, messages
    assert any(REATTACH_LOG in line for line in rest.log_lines(WORKER_DRILL, run_id, "turn", 2))
    result = rest.xcom(WORKER_DRILL, run_id, "turn")
    assert (result["session_id"], result["message_id"]) == (session_id, by_role(messages, "assistant")[0]["id"])
    record = json.loads((session_ledger / "mix_default" / f"{session_id}.json").read_text())
    assert (record["dag_id"], record["task_id"], record["run_id"]) == (WORKER_DRILL, "create_session", run_id)
