"""The browser suite's supervised turn: a bash permission no rule decides, so a person answers it in the UI.

Not an example DAG (its run waits for a person); the e2e fixtures add it to the DAGs folder.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator

with DAG(dag_id="mix_e2e_supervised", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    create_session = MixCreateSessionOperator(task_id="create_session", title="e2e supervised ({{ run_id }})")
    supervised_turn = MixSendMessageOperator(
        task_id="supervised_turn",
        session_id=create_session.output,
        text="List the release folder. [[permission:bash:ls -la]]",
        permission_policy={"on_undecided": "ask"},
        deferrable=True,
        timeout=900,
    )
    create_session >> supervised_turn
