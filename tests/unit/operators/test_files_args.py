"""The file operators' argument handling: sources and globs, name filters, attachment text (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mix_provider.errors import MixConfigError
from mix_provider.operators._uploads import expand, with_attachments
from mix_provider.operators.files import MixCollectFilesOperator, MixUploadFilesOperator, select

SID = "0b9f6f2e-1c1d-4d52-9a57-1f7c2c0f1a11"


def test_expand_paths_uris_and_globs(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("a.pdf", "b.pdf", "c.txt", "d/x.pdf", "d/e/y.pdf"):
        (tmp_path / name).write_text(name)
    found = expand("source", [f"file://{tmp_path}/*.pdf", str(tmp_path / "c.txt"), f"{tmp_path}/d/**/*.pdf"])
    names = [p.name for p in found]
    assert names[:3] == ["a.pdf", "b.pdf", "c.txt"] and sorted(names[3:]) == ["x.pdf", "y.pdf"]
    with pytest.raises(MixConfigError, match="matches no file"):
        expand("source", f"{tmp_path}/*.docx")
    with pytest.raises(MixConfigError, match="names no file"):
        expand("source", [])
    with pytest.raises(MixConfigError, match="bucket or the root"):
        expand("source", "s3://*/x.pdf")


def test_select_and_attachments() -> None:
    names = ["chart.png", "notes.txt", "plot.PNG"]
    assert select(names, None) == names
    assert select(names, "*.png") == ["chart.png"]
    assert select(names, ["*.txt", "plot.*"]) == ["notes.txt", "plot.PNG"]
    with pytest.raises(MixConfigError, match="patterns"):
        select(names, [""])
    uploaded = [{"url": "http://mix/api/sessions/s/files/a.pdf"}, {"url": "http://mix/api/sessions/s/files/b.csv"}]
    assert with_attachments("Read these.", uploaded) == (
        "Read these.\n\nAttached files:\n- http://mix/api/sessions/s/files/a.pdf\n- http://mix/api/sessions/s/files/b.csv"
    )
    assert with_attachments("Nothing attached.", []) == "Nothing attached."


def test_parse_time_checks_and_templates() -> None:
    with pytest.raises(MixConfigError, match="source"):
        MixUploadFilesOperator(task_id="u", session_id=SID, source="nosuchfs://bucket/a.pdf")
    templated = MixUploadFilesOperator(task_id="t", session_id="{{ params.sid }}", source="{{ params.inbox }}/*.pdf")
    assert templated.template_fields == ("mix_conn_id", "session_id", "source")
    with pytest.raises(MixConfigError, match="on_missing"):
        MixCollectFilesOperator(task_id="c", session_id=SID, destination="file:///tmp/x", on_missing="maybe")
    with pytest.raises(MixConfigError, match="session_id"):
        MixCollectFilesOperator(task_id="c", session_id="", destination="file:///tmp/x")
