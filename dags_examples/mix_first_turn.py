"""The README's first DAG: a session, one turn under a permission policy, the session deleted.

Works on a real Mix server as on the bundled one. Both ask permission before a tool acts (a real
server does unless it runs with ``--dangerously-skip-permissions``), so the turn states what it
allows: read-only ``ls`` commands are granted and every other request is denied; the agent is told
"no" and carries on. Without a policy, the first request fails the task
(``MixUndecidedRequestError``) rather than leave the run waiting.
"""

from __future__ import annotations

# [START mix_first_turn]
from datetime import datetime

from airflow.sdk import DAG

from mix_provider.client.policies import PermissionPolicy, PermissionRule
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixDeleteSessionOperator

with DAG(dag_id="mix_first_turn", schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["mix"]):
    session = MixCreateSessionOperator(task_id="create_session", title="My first Mix turn")
    turn = MixSendMessageOperator(
        task_id="ask",
        session_id=session.output,
        text="List the files in your working directory and say what each one is for.",
        permission_policy=PermissionPolicy(
            rules=(
                PermissionRule(tool="bash", command="ls *", action="grant"),
                PermissionRule(tool="*", action="deny"),
            )
        ),
        timeout=600,
    )
    delete = MixDeleteSessionOperator(task_id="delete_session", session_id=session.output)
    session >> turn >> delete.as_teardown(setups=session)
# [END mix_first_turn]
