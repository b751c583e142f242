"""Our own Airflow version flags, the DagBag shim, and the once-per-process notice of a missing feature."""

from __future__ import annotations

import logging

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from mix_provider import version_compat
from mix_provider.operators._state import TaskState


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.0.6", (3, 0, 6)), ("3.3.0.dev0", (3, 3, 0)), ("3.2.0rc1", (3, 2, 0)), ("3.1.8.post1", (3, 1, 8))],
)
def test_base_version(version: str, expected: tuple[int, int, int]) -> None:
    assert version_compat._base_version(version) == expected


def test_flags_match_the_installed_airflow() -> None:
    minor = Version(airflow_version).release[:2]
    flags = (version_compat.AIRFLOW_V_3_1_PLUS, version_compat.AIRFLOW_V_3_2_PLUS, version_compat.AIRFLOW_V_3_3_PLUS)
    assert flags == (minor >= (3, 1), minor >= (3, 2), minor >= (3, 3))
    assert version_compat.HAS_TASK_STATE == version_compat.AIRFLOW_V_3_3_PLUS
    assert version_compat.HAS_DECLARATIVE_CONN_FIELDS == version_compat.AIRFLOW_V_3_2_PLUS


def test_dag_bag_class_is_the_one_this_airflow_has() -> None:
    expected = "airflow.dag_processing.dagbag" if version_compat.AIRFLOW_V_3_2_PLUS else "airflow.models.dagbag"
    cls = version_compat.dag_bag_class()
    assert (cls.__module__, cls.__name__) == (expected, "DagBag")


def test_missing_task_state_is_said_once_at_info(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("mix_provider.operators._state.HAS_TASK_STATE", False)
    monkeypatch.setattr(version_compat, "_said", set())
    caplog.set_level(logging.DEBUG, logger="mix_provider")
    for _ in range(3):
        state = TaskState({"task_state_store": object()}, "key")
        assert state.get() is None  # no store used on an Airflow without task state
    notes = [r for r in caplog.records if "task_state_store" in r.getMessage()]
    assert [(r.levelno, r.name) for r in notes] == [(logging.INFO, "mix_provider.version_compat")]
    assert "needs Airflow >= 3.3" in notes[0].getMessage()
