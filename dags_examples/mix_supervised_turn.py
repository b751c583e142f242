"""A supervised turn: the agent's permission requests and questions answered by policy, under a budget.

The rules grant read-only ``ls`` commands and deny writes under ``/etc``; the notification policy
acknowledges info/warning/error and answers the deploy question "no". Whatever no rule decides goes
to a person through Airflow's Required Actions on Airflow >= 3.1 (``ask``); on 3.0, which has no
human-in-the-loop, it cancels the run and fails the task (``fail``). Against the bundled local server
the ``[[...]]`` directives in the text script the agent: they make the bundled server's agent ask for
these permissions and questions, and mean nothing to a real server (whose model decides what to
do). Every request here is decided by a rule, so the DAG also runs unattended. See docs/supervised.md.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from mix_provider.client.policies import NotificationPolicy, PermissionPolicy, PermissionRule
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixDeleteSessionOperator
from mix_provider.version_compat import HAS_HITL

with DAG(
    dag_id="mix_supervised_turn",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example"],
) as dag:
    create_session = MixCreateSessionOperator(task_id="create_session", title="Supervised turn ({{ run_id }})")

    # [START howto_operator_mix_supervised_turn]
    undecided = "ask" if HAS_HITL else "fail"  # Airflow 3.0 has no human-in-the-loop
    supervised_turn = MixSendMessageOperator(
        task_id="supervised_turn",
        session_id=create_session.output,
        text=(
            "Check the release folder, then ask before deploying. "
            "[[permission:bash:ls -la /srv/release]] [[permission:write:/etc/motd]] "
            "[[notify:info:release checked]] [[question:Deploy to prod?|yes,no]]"
        ),
        permission_policy=PermissionPolicy(
            rules=(
                PermissionRule(tool="bash", command="ls *", action="grant"),
                PermissionRule(tool="write", path="/etc/*", action="deny"),
            ),
            on_undecided=undecided,
        ),
        notification_policy=NotificationPolicy(answers={"Deploy to prod?": "no"}, on_undecided=undecided),
        max_cost_usd=0.50,
        deferrable=True,
        timeout=600,
    )
    # [END howto_operator_mix_supervised_turn]

    # The session is deleted whatever the turn's outcome: a teardown of the task that created it.
    delete_session = MixDeleteSessionOperator(task_id="delete_session", session_id=create_session.output)
    create_session >> supervised_turn >> delete_session.as_teardown(setups=create_session)
