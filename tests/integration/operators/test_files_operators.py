"""MixUploadFilesOperator and MixCollectFilesOperator against the local server: in DAGs and as lineage."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, Asset

from mix_provider.errors import MixConfigError, MixFileTooLargeError, MixNotFoundError
from mix_provider.operators.files import MixCollectFilesOperator, MixUploadFilesOperator
from mix_provider.operators.message import MixSendMessageOperator
from support.integration import MixAPI, asset_events, states, xcom

START = datetime(2026, 1, 1)


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "brief.pdf").write_bytes(b"%PDF-1.4 brief")
    for name in ("a.csv", "b.csv"):
        (inbox / name).write_text(f"{name}\n1,2\n")
    return inbox


def test_upload_a_list_with_a_glob_then_collect_filtered(
    run_dag: Any, mix_server: Any, api: MixAPI, uid: str, tmp_path: Path
) -> None:
    inbox = _inbox(tmp_path)
    session_id = api.create_session(f"files {uid}")["id"]
    api.converse(session_id, "make [[file:plot.png]] [[file:notes.txt]]")
    given, made = Asset(name=f"given_{uid}"), Asset(name=f"made_{uid}")
    with DAG(f"files_ops_{uid}", schedule=None, start_date=START, params={"inbox": f"file://{inbox}"}) as dag:
        upload = MixUploadFilesOperator(
            task_id="upload",
            session_id=session_id,
            source=["{{ params.inbox }}/brief.pdf", f"{inbox}/*.csv"],
            outlets=[given],
        )
        collect = MixCollectFilesOperator(
            task_id="collect",
            session_id=session_id,
            destination=f"file://{tmp_path}/out",
            patterns="*.png",
            outlets=[made],
        )
        upload >> collect
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    uploaded = xcom(dr, "upload")
    assert [(u["name"], u["size"]) for u in uploaded] == [("brief.pdf", 14), ("a.csv", 10), ("b.csv", 10)]
    assert uploaded[0]["source"] == f"file://{inbox}/brief.pdf" and uploaded[1]["source"] == f"{inbox}/a.csv"
    collected = xcom(dr, "collect")
    assert [f["name"] for f in collected["files"]] == ["plot.png"]
    stored = tmp_path / "out" / "plot.png"
    assert collected["files"][0]["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert collected["files"][0]["uri"] == f"file://{stored}"
    ((given_event,), (made_event,)) = asset_events(given.name), asset_events(made.name)
    assert given_event == {"session_ids": [session_id], "uploaded": uploaded}
    assert made_event == {"session_ids": [session_id], "stored": collected["files"]}


def test_collect_of_a_referenced_file_that_is_gone(
    run_dag: Any, mix_server: Any, api: MixAPI, uid: str, tmp_path: Path
) -> None:
    session_id = api.create_session(f"gone {uid}")["id"]
    api.converse(session_id, f"see /api/sessions/{session_id}/files/ghost.png and [[file:real.txt]]")
    skip = MixCollectFilesOperator(
        task_id="skip", session_id=session_id, destination=f"file://{tmp_path}/skip", on_missing="skip"
    )
    result = skip.execute({})
    assert ([f["name"] for f in result["files"]], result["missing"]) == (["real.txt"], ["ghost.png"])
    fail = MixCollectFilesOperator(task_id="fail", session_id=session_id, destination=f"file://{tmp_path}/fail")
    with pytest.raises(MixNotFoundError):
        fail.execute({})
    assert not list((tmp_path / "fail").glob("*ghost*"))


def test_bad_sources_fail_before_any_upload(mix_server: Any, api: MixAPI, uid: str, tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    session_id = api.create_session(f"bad {uid}")["id"]
    with pytest.raises(MixConfigError, match="source"):
        MixUploadFilesOperator(task_id="scheme", session_id=session_id, source="nosuchfs://bucket/a.pdf")
    with pytest.raises(MixConfigError, match="on_missing"):
        MixCollectFilesOperator(task_id="c", session_id=session_id, destination=str(tmp_path), on_missing="ignore")
    mix_server.reset_request_counts()
    cases: list[tuple[Any, int, type[Exception], str]] = [
        ([f"{inbox}/a.csv", f"{inbox}/missing.pdf"], 100, MixConfigError, "does not exist"),
        (f"{inbox}/*.docx", 100, MixConfigError, "matches no file"),
        ([f"{inbox}/a.csv", f"{inbox}/brief.pdf"], 10, MixFileTooLargeError, "over the upload limit"),
    ]
    for source, limit, error, message in cases:
        operator = MixUploadFilesOperator(task_id="bad", session_id=session_id, source=source, limit=limit)
        with pytest.raises(error, match=message):
            operator.execute({})
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/files/upload") == 0


def test_upload_and_collect_lineage(mix_server: Any, api: MixAPI, uid: str, tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    inbox = _inbox(tmp_path)
    namespace = f"mix://{mix_server.base_url.split('://', 1)[1]}"
    session_id = api.create_session(f"lineage {uid}")["id"]
    upload = MixUploadFilesOperator(task_id="up", session_id=session_id, source=f"{inbox}/brief.pdf")
    upload.execute({})
    ti = SimpleNamespace(task_id="up", xcom_pull=lambda task_ids, key="return_value": None)
    lineage = upload.get_openlineage_facets_on_complete(ti)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(inbox / "brief.pdf"))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [(namespace, f"sessions/{session_id}")]
    api.converse(session_id, "[[file:out.png]]")
    collect = MixCollectFilesOperator(task_id="col", session_id=session_id, destination=f"file://{tmp_path}/o")
    collect.execute({})
    lineage = collect.get_openlineage_facets_on_complete(ti)
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(tmp_path / "o" / "out.png"))]
    assert lineage.outputs[0].facets["outputStatistics"].size == (tmp_path / "o" / "out.png").stat().st_size


def test_a_turn_with_files_reports_them_across_its_deferral(
    run_dag: Any, mix_server: Any, api: MixAPI, uid: str, tmp_path: Path
) -> None:
    inbox = _inbox(tmp_path)
    session_id = api.create_session(f"turn files {uid}")["id"]
    given = Asset(name=f"turn_given_{uid}")
    with DAG(f"turn_files_{uid}", schedule=None, start_date=START) as dag:
        MixSendMessageOperator(
            task_id="ask",
            session_id=session_id,
            text="Read these.",
            files=f"{inbox}/*.csv",
            deferrable=True,
            outlets=[given],
        )
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    result = xcom(dr, "ask")
    assert [(f["name"], f["size"]) for f in result["files"]] == [("a.csv", 10), ("b.csv", 10)]
    assert result["files"][0]["source"] == f"{inbox}/a.csv" and result["reply"]
    (event,) = asset_events(given.name)
    assert event == {"session_ids": [session_id], "uploaded": result["files"]}


class _TaskInstance:
    """The task instance of a task run by hand: its XComs in a dict."""

    task_id, map_index = "ask", -1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", map_indexes: int | None = None) -> Any:
        return self.xcoms.get(key)


def test_a_turn_with_files_reads_them_in_lineage(mix_server: Any, api: MixAPI, uid: str, tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    inbox = _inbox(tmp_path)
    namespace = f"mix://{mix_server.base_url.split('://', 1)[1]}"
    session_id = api.create_session(f"turn lineage {uid}")["id"]
    turn = MixSendMessageOperator(
        task_id="ask", session_id=session_id, text="Read it.", files=f"{inbox}/brief.pdf", deferrable=False
    )
    ti = _TaskInstance()
    assert [f["name"] for f in turn.execute({"ti": ti})["files"]] == ["brief.pdf"]
    lineage = turn.get_openlineage_facets_on_complete(ti)
    session = (namespace, f"sessions/{session_id}")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [session, ("file", str(inbox / "brief.pdf"))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [session]
