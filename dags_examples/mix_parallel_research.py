"""Fan out: one Mix session per topic (dynamic task mapping), one turn each, then a summary turn.

The sessions are kept, so ``mix_archive_transcripts`` has something to archive.

Permission policy: each turn may run ``grep`` and ``ls`` (the server asks before a tool acts); any
other request is denied and the agent goes on without it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from mix_provider.client.policies import PermissionPolicy, PermissionRule
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixListSessionsOperator

TOPICS = ["pricing pages", "churn signals", "onboarding emails"]

with DAG(
    dag_id="mix_parallel_research",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example"],
) as dag:
    # [START howto_operator_mix_mapped_sessions]
    sessions = MixCreateSessionOperator.partial(task_id="create_sessions").expand(
        title=[f"Research: {topic}" for topic in TOPICS]
    )
    replies = MixSendMessageOperator.partial(
        task_id="research",
        text="Research this topic and list three findings.",
        permission_policy=PermissionPolicy(
            rules=(
                PermissionRule(tool="bash", command="grep *", action="grant"),
                PermissionRule(tool="bash", command="ls *", action="grant"),
                PermissionRule(tool="*", action="deny"),
            )
        ),
        timeout=600,
    ).expand(session_id=sessions.output)
    # [END howto_operator_mix_mapped_sessions]

    # [START howto_operator_mix_list_sessions]
    # Titles are not stable keys: the server renames a session after its first message.
    research_sessions = MixListSessionsOperator(
        task_id="list_research_sessions", created_after="{{ dag_run.start_date }}"
    )
    # [END howto_operator_mix_list_sessions]

    replies >> research_sessions
