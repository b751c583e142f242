"""MixExportSessionOperator through ``dag.test()`` against the local server: exact bytes, exact lines,
gzip, the summary, and cut-off transcripts that must leave nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import DAG

from mix_provider.archive import PARTIAL_SUFFIX
from mix_provider.operators.export import MixExportSessionOperator
from support.integration import MixAPI, states, xcom

START = datetime(2026, 1, 1)
VARIANTS = {
    "json": ("json", None),
    "jsonl": ("jsonl", None),
    "json.gz": ("json", "gzip"),
    "jsonl.gz": ("jsonl", "gzip"),
}


def export_dag(dag_id: str, session_id: str, out: Path, variants: dict[str, tuple[str, str | None]]) -> DAG:
    """One export task per variant, writing ``<out>/<session id>.<variant>`` (templated paths)."""
    with DAG(dag_id, schedule=None, start_date=START, params={"out": str(out), "sid": session_id}) as dag:
        for name, (fmt, compression) in variants.items():
            MixExportSessionOperator(
                task_id=f"export_{name.replace('.', '_')}",
                session_id="{{ params.sid }}",
                output_path="file://{{ params.out }}/{{ params.sid }}." + name,
                format=fmt,
                compression=compression,
                retries=0,
            )
    return dag


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(f"*{PARTIAL_SUFFIX}")) if directory.exists() else []


def test_every_format_is_exact(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    (session_id,) = conversations(1)
    dag = export_dag(f"export_formats_{uid}", session_id, archive_dir, VARIANTS)
    MixExportSessionOperator(task_id="summary", session_id=session_id, dag=dag)
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    served = httpx.get(f"{mix_server.base_url}/api/sessions/{session_id}/export").content
    stored = {name: (archive_dir / f"{session_id}.{name}").read_bytes() for name in VARIANTS}
    assert stored["json"] == served
    expected = json.loads(served)
    messages = expected.pop("messages")
    lines = stored["jsonl"].split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(messages) + 2
    assert json.loads(lines[0]) == expected
    assert [json.loads(line) for line in lines[1:-1]] == messages
    assert gzip.decompress(stored["json.gz"]) == stored["json"]
    assert gzip.decompress(stored["jsonl.gz"]) == stored["jsonl"]
    for name, data in stored.items():
        result = xcom(dr, f"export_{name.replace('.', '_')}")
        assert result == {
            "uri": f"file://{archive_dir}/{session_id}.{name}",
            "session_id": session_id,
            "messages": len(messages),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "callback_results": None,  # a session without callbacks
        }
    summary = xcom(dr, "summary")
    assert summary["messages"] == len(messages) == 6, "two turns, the second a tool run of four messages"
    assert sorted(m["role"] for m in messages) == ["assistant", "assistant", "assistant", "tool", "user", "user"], (
        "JSON Lines keep tool messages"
    )
    assert (summary["title"], summary["cost"]) == (expected["title"], expected["cost"])
    assert summary["prompt_tokens"] == expected["promptTokens"]
    replies = [m["content"] for m in messages if m.get("finishReason") == "end_turn"]
    assert not any(r in json.dumps(summary, ensure_ascii=False) for r in replies)  # (the title is from the first)
    assert leftovers(archive_dir) == []


def test_cut_transcripts_leave_no_file_and_keep_the_previous_one(
    run_dag: Callable[..., Any], faults: Any, conversations: Any, archive_dir: Path, uid: str
) -> None:
    truncated, reset = conversations(2)
    first = run_dag(export_dag(f"export_before_{uid}", truncated, archive_dir, {"json": VARIANTS["json"]}))
    assert first.state == "success", states(first)
    previous = (archive_dir / f"{truncated}.json").read_bytes()

    faults.add_fault("truncate", method="GET", path=f"/api/sessions/{truncated}/export", count=100)
    faults.add_fault("reset_after", method="GET", path=f"/api/sessions/{reset}/export", count=100)
    faults.reset_request_counts()
    cases = [(truncated, "json"), (truncated, "jsonl.gz"), (reset, "jsonl"), (reset, "json.gz")]
    with DAG(f"export_cut_{uid}", schedule=None, start_date=START) as dag:
        for sid, name in cases:
            fmt, compression = VARIANTS[name]
            MixExportSessionOperator(
                task_id=f"{sid[:8]}_{name.replace('.', '_')}",
                session_id=sid,
                output_path=f"file://{archive_dir}/{sid}.{name}",
                format=fmt,
                compression=compression,
                retries=0,
            )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert set(states(dr).values()) == {"failed"}
    assert faults.request_count("GET", f"/api/sessions/{truncated}/export") == 2 * 3  # 3 attempts per task
    assert sorted(p.name for p in archive_dir.iterdir()) == [f"{truncated}.json"]
    assert (archive_dir / f"{truncated}.json").read_bytes() == previous


def test_one_cut_is_retried_transparently(
    run_dag: Callable[..., Any], faults: Any, mix_server: Any, conversations: Any, archive_dir: Path, uid: str
) -> None:
    (session_id,) = conversations(1)
    faults.add_fault("truncate", method="GET", path=f"/api/sessions/{session_id}/export", count=1)
    faults.add_fault("malformed", method="GET", path=f"/api/sessions/{session_id}/export", count=1)
    faults.reset_request_counts()
    dr = run_dag(export_dag(f"export_retry_{uid}", session_id, archive_dir, {"jsonl.gz": VARIANTS["jsonl.gz"]}))
    assert dr.state == "success", states(dr)
    assert faults.request_count("GET", f"/api/sessions/{session_id}/export") == 3
    served = json.loads(httpx.get(f"{mix_server.base_url}/api/sessions/{session_id}/export").content)
    lines = gzip.decompress((archive_dir / f"{session_id}.jsonl.gz").read_bytes()).split(b"\n")
    assert [json.loads(line) for line in lines[1:-1]] == served["messages"]
    assert leftovers(archive_dir) == []
