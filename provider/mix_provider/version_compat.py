"""Airflow version flags for features that arrived after 3.0."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AIRFLOW_V_3_3_PLUS

#: ``task_state_store`` (retries re-attach to what an earlier try started) exists from Airflow 3.3.
HAS_TASK_STATE = bool(AIRFLOW_V_3_3_PLUS)

__all__ = ["HAS_TASK_STATE"]
