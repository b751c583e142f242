"""``@task.mix`` with a typed reply: the function returns the prompt, the reply is validated as JSON.

An invalid reply is rewound and sent again with the validation error (``max_output_retries``).

Permission policy: the triage needs no tool, so every permission request is denied (the agent
answers from the ticket alone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from airflow.sdk import DAG, task
from pydantic import BaseModel

from mix_provider.operators.session import MixCreateSessionOperator, MixDeleteSessionOperator


class Triage(BaseModel):
    """What the agent must answer."""

    priority: Literal["low", "high"]
    reason: str


with DAG(
    dag_id="mix_typed_triage",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example"],
) as dag:
    session = MixCreateSessionOperator(task_id="create_session", title="Ticket triage")

    # [START howto_decorator_mix]
    @task.mix(
        session_id=session.output,
        output_type=Triage,
        max_output_retries=2,
        thinking_level="off",
        permission_policy={"rules": [{"tool": "*", "action": "deny"}]},
    )
    def triage(ticket: str) -> str:
        return (
            'Triage this support ticket. Answer with only JSON like {"priority": "high", "reason": "..."}'
            f" (priority low or high): {ticket}"
        )

    @task
    def route(result: dict[str, str]) -> str:
        return "pager" if Triage.model_validate(result).priority == "high" else "backlog"

    routed = route(triage("Checkout fails with a 500 for every customer"))
    # [END howto_decorator_mix]

    # The session is deleted whatever the triage's outcome: a teardown of the task that created it.
    cleanup = MixDeleteSessionOperator(task_id="delete_session", session_id=session.output)
    routed >> cleanup.as_teardown(setups=session)
