"""Airflow version flags for features that arrived after 3.0, and the few shims they need.

Our own flags, as Airflow's providers keep theirs: another provider's flags (common-compat's
``AIRFLOW_V_3_3_PLUS``) are not part of its public surface.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

log = logging.getLogger(__name__)


def _base_version(version: str) -> tuple[int, int, int]:
    """``(major, minor, micro)`` of an Airflow version string; pre-releases count as their release."""
    parsed = Version(Version(version).base_version)
    return parsed.major, parsed.minor, parsed.micro


AIRFLOW_V_3_1_PLUS = _base_version(AIRFLOW_VERSION) >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = _base_version(AIRFLOW_VERSION) >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = _base_version(AIRFLOW_VERSION) >= (3, 3, 0)

#: ``task_state_store`` (retries re-attach to what an earlier try started) exists from Airflow 3.3.
HAS_TASK_STATE = AIRFLOW_V_3_3_PLUS

#: Human-in-the-loop (``upsert_hitl_detail``, the UI's Required Actions) exists from Airflow 3.1; from 3.3
#: a task waits for the answer in ``awaiting_input`` instead of deferring to ``HITLTrigger``.
HAS_HITL = AIRFLOW_V_3_1_PLUS

#: Airflow reads the declarative ``conn-fields`` of provider info from 3.2; 3.0/3.1 call the hook's
#: ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` instead.
HAS_DECLARATIVE_CONN_FIELDS = AIRFLOW_V_3_2_PLUS

_said: set[str] = set()


def log_missing_feature_once(feature: str, consequence: str, needs: str) -> None:
    """Say once per process, at INFO, that ``feature`` needs a newer Airflow and what that means."""
    if feature in _said:
        return
    _said.add(feature)
    log.info("%s needs Airflow >= %s (this is %s): %s", feature, needs, AIRFLOW_VERSION, consequence)


def dag_bag_class() -> Any:
    """Airflow's ``DagBag``: ``airflow.dag_processing.dagbag`` from 3.2, ``airflow.models.dagbag`` before."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag


def sync_dag_bag_to_db(bag: Any, bundle_name: str = "dags-folder") -> None:
    """Serialize ``bag``'s DAGs into ``bundle_name`` (what the DAG processor does), on every Airflow 3."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    elif AIRFLOW_V_3_1_PLUS:
        from airflow.models.dagbag import sync_bag_to_db
    else:
        for dag in bag.dags.values():  # built in code, not parsed from a file: as 3.0's DagBag does then
            if getattr(dag, "relative_fileloc", None) is None:
                dag.relative_fileloc = dag.fileloc
        bag.sync_to_db(bundle_name, None)
        return
    sync_bag_to_db(bag, bundle_name, None)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "HAS_DECLARATIVE_CONN_FIELDS",
    "HAS_HITL",
    "HAS_TASK_STATE",
    "dag_bag_class",
    "log_missing_feature_once",
    "sync_dag_bag_to_db",
]
