"""The soak's DAG (benchmarks/soak.py): the work of a day, run over and over.

``mix_soak``: one session, then a deferrable turn, a blocking turn and a supervised turn (the agent
asks for a bash permission that a rule grants), each with retries; then the session's transcript
archived into the directory every run shares (one manifest part per run).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator

DELAY = "[[delay:{{ params.delay_ms }}]]"
PARAMS = {"delay_ms": 3000, "base_path": "file:///tmp/mix-soak-archive"}
TURNS = {"retries": 3, "retry_delay": timedelta(seconds=2), "timeout": 600}
GRANT_LS = {"rules": [{"tool": "bash", "command": "ls *", "action": "grant"}], "on_undecided": "fail"}

with DAG(
    dag_id="mix_soak",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params=PARAMS,
    max_active_runs=4,
    render_template_as_native_obj=True,  # session_ids renders to a list
) as soak:
    session = MixCreateSessionOperator(task_id="create_session", title="soak ({{ run_id }})", retries=3)
    deferred = MixSendMessageOperator(
        task_id="deferred_turn",
        session_id=session.output,
        text=f"Deferred soak turn. {DELAY}",
        deferrable=True,
        **TURNS,
    )
    blocking = MixSendMessageOperator(
        task_id="blocking_turn",
        session_id=session.output,
        text=f"Blocking soak turn. {DELAY}",
        deferrable=False,
        **TURNS,
    )
    supervised = MixSendMessageOperator(
        task_id="supervised_turn",
        session_id=session.output,
        text="List the soak folder. [[permission:bash:ls -la]]",
        permission_policy=GRANT_LS,
        deferrable=True,
        **TURNS,
    )
    archive = MixArchiveSessionsOperator(
        task_id="archive",
        base_path="{{ params.base_path }}",
        session_ids="{{ [ti.xcom_pull(task_ids='create_session')] }}",
        retries=3,
    )
    session >> deferred >> blocking >> supervised >> archive
