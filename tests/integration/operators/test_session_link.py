"""The "Mix session" extra link: computed when the task ends (``dag.test()``), from ``extra.ui_url``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.errors import MixConfigError
from mix_provider.links import MixSessionLink, session_url
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from support.integration import states, xcom

pytestmark = pytest.mark.integration
LINK_KEY = MixSessionLink().xcom_key


def test_mix_tasks_link_their_session(run_dag: Any, mix_server: Any, uid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"ui_url": "https://mix.example/app/"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIX_UI", json.dumps({"conn_type": "mix", "host": mix_server.base_url, "extra": extra})
    )
    with DAG(f"mix_link_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        create = MixCreateSessionOperator(task_id="create", title=f"link {uid}", mix_conn_id="mix_ui")
        MixSendMessageOperator(task_id="turn", session_id=create.output, text="hi", mix_conn_id="mix_ui")
        MixCreateSessionOperator(task_id="unlinked", title=f"no ui {uid}")  # mix_default has no ui_url
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    session_id = xcom(dr, "create")
    assert xcom(dr, "create", key=LINK_KEY) == f"https://mix.example/app/sessions/{session_id}"
    assert xcom(dr, "turn", key=LINK_KEY) == f"https://mix.example/app/sessions/{session_id}"
    assert xcom(dr, "unlinked", key=LINK_KEY) == ""
    assert MixSessionLink().name in [link.name for link in dag.get_task("turn").operator_extra_links]


def test_session_url_placeholder_and_refusals() -> None:
    assert session_url("https://ui/s/{session_id}/view", "s:1") == "https://ui/s/s%3A1/view"
    with pytest.raises(MixConfigError, match=r"extra\.ui_url: must be an http:// or https:// URL"):
        session_url("javascript:alert(1)", "s1")
    with pytest.raises(MixConfigError, match="session_id"):
        session_url("https://ui", "../x")
