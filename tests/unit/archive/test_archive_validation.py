"""Argument checks of the export and archive operators: at DAG parse time when the values are
literal, and again after rendering, always before any request (the connection is never looked up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mix_provider.errors import MixConfigError
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator

NO_SUCH_CONN = "mix_archive_unit_no_such_connection"


def export_op(**kwargs: Any) -> MixExportSessionOperator:
    return MixExportSessionOperator(task_id="export", mix_conn_id=NO_SUCH_CONN, **{"session_id": "s1", **kwargs})


def archive_op(**kwargs: Any) -> MixArchiveSessionsOperator:
    return MixArchiveSessionsOperator(
        task_id="archive", mix_conn_id=NO_SUCH_CONN, **{"base_path": "file:///tmp/a", **kwargs}
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"format": "csv"}, "format", "'csv' is not one of: json, jsonl"),
        ({"compression": "bz2"}, "compression", "'bz2' is not one of: None, gzip"),
        ({"output_path": 3}, "output_path", "must be an ObjectStoragePath or a URI"),
    ],
)
def test_export_arguments_are_checked_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(MixConfigError, match=rf"^{field}: {says}"):
        export_op(**kwargs)


def test_templated_arguments_wait_for_rendering() -> None:
    op = export_op(format="{{ params.fmt }}", output_path="{{ params.out }}", compression="{{ params.c }}")
    op.format, op.output_path, op.compression = "yaml", "file:///tmp/x.yaml", None
    with pytest.raises(MixConfigError, match=r"^format: 'yaml' is not one of"):
        op.execute({})


@pytest.mark.parametrize(
    ("name", "compression"),
    [("t.json.gz", None), ("t.json", "gzip")],
)
def test_gz_names_must_match_the_compression(tmp_path: Path, name: str, compression: str | None) -> None:
    """Refused when the DAG is parsed (both literal), before any request."""
    with pytest.raises(MixConfigError, match=r"^output_path: .* does not match compression"):
        export_op(output_path=f"file://{tmp_path}/{name}", compression=compression)


def test_bad_session_id_is_refused_before_any_request() -> None:
    with pytest.raises(MixConfigError, match=r"^session_id: "):
        export_op(session_id="../etc").execute({})


def test_overwrite_false_refuses_an_existing_file_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_bytes(b"kept")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        export_op(output_path=f"file://{tmp_path}/t.json", overwrite=False).execute({})
    assert (tmp_path / "t.json").read_bytes() == b"kept"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": "8"}, "max_concurrency"),
        ({"base_path": None}, "base_path"),
        ({"base_path": ""}, "base_path"),
        ({"format": "xml"}, "format"),
        ({"compression": "lz4"}, "compression"),
    ],
)
def test_archive_arguments_are_checked_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(MixConfigError, match=rf"^{field}: "):
        archive_op(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"session_ids": "abc"}, "session_ids"),
        ({"session_ids": ["ok", "bad/id"]}, "session_ids"),
        ({"session_ids": ["a"], "created_after": "2026-01-01T00:00:00Z"}, "session_ids"),
        ({"created_before": "yesterday"}, "created_before"),
    ],
)
def test_archive_rendered_arguments_are_checked_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(MixConfigError, match=rf"^{field}: "):
        archive_op(**kwargs).execute({})
