"""A whole Mix session lifecycle: create with callbacks, two turns, rewind the second, export, delete.

Runs against any Mix server behind the ``mix_default`` connection; ``make demo`` points it at the
bundled local server. The waits are deferrable (they run in the triggerer).

Permission policy: the server asks before a tool acts (a real Mix server does unless it runs with
``--dangerously-skip-permissions``). Both turns grant read-only ``ls``/``cat``/``grep`` commands and
deny every other request, so a turn never waits for a person and never fails on a request.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from mix_provider.client.policies import PermissionPolicy, PermissionRule
from mix_provider.operators.export import MixExportSessionOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.rewind import MixRewindSessionOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixDeleteSessionOperator, MixGetSessionOperator

SESSION_ID = "{{ ti.xcom_pull(task_ids='create_session') }}"

with DAG(
    dag_id="mix_session_lifecycle",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example"],
    params={"topic": "the quarterly sales report"},
) as dag:
    # [START howto_operator_mix_create_session]
    create_session = MixCreateSessionOperator(
        task_id="create_session",
        title="Lifecycle demo: {{ params.topic }} ({{ run_id }})",
        browser_mode="local-browser-service",
        callbacks=[
            {
                "type": "bash_script",
                "toolName": "bash",
                "name": "log tool runs",
                "bashCommand": "echo tool finished >> /tmp/mix-callbacks.log",
            }
        ],
    )
    # [END howto_operator_mix_create_session]

    # [START howto_operator_mix_send_message]
    read_only = PermissionPolicy(
        rules=(
            PermissionRule(tool="bash", command="ls *", action="grant"),
            PermissionRule(tool="bash", command="cat *", action="grant"),
            PermissionRule(tool="bash", command="grep *", action="grant"),
            PermissionRule(tool="*", action="deny"),  # anything else: the agent is told no and goes on
        )
    )
    first_turn = MixSendMessageOperator(
        task_id="first_turn",
        session_id=SESSION_ID,
        text="Summarise {{ params.topic }} in three bullet points.",
        permission_policy=read_only,
        thinking_level="basic",
        deferrable=True,
        timeout=600,
    )
    # [END howto_operator_mix_send_message]

    second_turn = MixSendMessageOperator(
        task_id="second_turn",
        session_id=SESSION_ID,
        text="Now draft an email announcing it.",
        permission_policy=read_only,
        deferrable=True,
        timeout=600,
    )

    # [START howto_operator_mix_rewind_session]
    rewind = MixRewindSessionOperator(
        task_id="rewind_second_turn",
        session_id=SESSION_ID,
        drop_turn=second_turn.output,
        cleanup_media=False,
    )
    # [END howto_operator_mix_rewind_session]

    # [START howto_operator_mix_get_session]
    summary = MixGetSessionOperator(task_id="session_summary", session_id=SESSION_ID)
    # [END howto_operator_mix_get_session]

    # [START howto_operator_mix_export_session]
    export = MixExportSessionOperator(task_id="export_transcript", session_id=SESSION_ID)
    # [END howto_operator_mix_export_session]

    # [START howto_operator_mix_delete_session]
    # A teardown of the session's setup: it runs whether the turns succeed or fail, and its own
    # outcome does not decide the run's.
    delete = MixDeleteSessionOperator(task_id="delete_session", session_id=SESSION_ID, ignore_missing=True).as_teardown(
        setups=create_session
    )
    # [END howto_operator_mix_delete_session]

    create_session >> first_turn >> second_turn >> rewind >> summary >> export >> delete
