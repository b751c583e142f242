"""OpenLineage datasets of the Mix tasks, from the operators' real runs against the local server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage")

from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from support.integration import MixAPI, api, uid

__all__ = ["api", "uid"]
pytestmark = pytest.mark.integration


def _ti(task_id: str, value: Any = None) -> Any:
    return SimpleNamespace(task_id=task_id, xcom_pull=lambda task_ids, key="return_value": value)


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_export_archive_turn_and_create_lineage(api: MixAPI, mix_server: Any, tmp_path: Path, uid: str) -> None:
    namespace = f"mix://{mix_server.base_url.split('://', 1)[1]}"
    session_id = api.create_session(f"lineage {uid}")["id"]
    api.converse(session_id, "hello lineage")

    export = MixExportSessionOperator(
        task_id="export", session_id=session_id, output_path=f"file://{tmp_path}/one.json"
    )
    stored = export.execute({})
    lineage = export.get_openlineage_facets_on_complete(_ti("export"))
    assert _names(lineage.inputs) == [(namespace, f"sessions/{session_id}")]
    assert _names(lineage.outputs) == [("file", str(tmp_path / "one.json"))]
    stats = lineage.outputs[0].facets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (stored["messages"], stored["bytes"])

    archive = MixArchiveSessionsOperator(
        task_id="archive", base_path=f"file://{tmp_path}/all", session_ids=[session_id]
    )
    archive.execute({})
    lineage = archive.get_openlineage_facets_on_complete(_ti("archive"))
    assert _names(lineage.inputs) == [(namespace, f"sessions/{session_id}")]
    ((file_namespace, name),) = _names(lineage.outputs)
    assert file_namespace == "file" and Path(name).parent == tmp_path / "all"
    assert lineage.outputs[0].facets["outputStatistics"].size == Path(name).stat().st_size
    assert hashlib.sha256(Path(name).read_bytes()).hexdigest()

    turn = MixSendMessageOperator(task_id="turn", session_id=session_id, text="again")
    lineage = turn.get_openlineage_facets_on_complete(_ti("turn"))
    assert _names(lineage.inputs) == _names(lineage.outputs) == [(namespace, f"sessions/{session_id}")]

    create = MixCreateSessionOperator(task_id="create", title="t")
    lineage = create.get_openlineage_facets_on_complete(_ti("create", value=session_id))
    assert (lineage.inputs, _names(lineage.outputs)) == ([], [(namespace, f"sessions/{session_id}")])
    assert create.get_openlineage_facets_on_complete(_ti("create", value=None)) is None
