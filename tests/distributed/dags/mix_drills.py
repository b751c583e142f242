"""DAGs of the failure drills of tests/distributed: turns made slow with the scripted agent's
``[[delay:MS]]`` directive so that a process can be killed while they are in flight.

``mix_drill_triggerer``: three sessions, one deferrable turn each, waiting in the triggerer at once.
``mix_drill_worker``: one session and one blocking (non-deferrable) turn with ``retries=1``, waiting
in a Celery worker.
``mix_drill_supervised``: one deferrable turn whose agent asks for a bash permission that no rule
decides, so it waits for a person (Airflow's Required Actions).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator

TURNS = 3
DELAY = "[[delay:{{ params.delay_ms }}]]"

with DAG(
    dag_id="mix_drill_triggerer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "drill"],
    params={"delay_ms": 45000},
) as triggerer_drill:
    for i in range(1, TURNS + 1):
        session = MixCreateSessionOperator(
            task_id=f"create_session_{i}", title=f"triggerer drill {i} ({{{{ run_id }}}})"
        )
        session >> MixSendMessageOperator(
            task_id=f"turn_{i}",
            session_id=session.output,
            text=f"Triggerer drill turn {i}. {DELAY}",
            deferrable=True,
            timeout=900,
            retries=0,
        )

with DAG(
    dag_id="mix_drill_worker",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "drill"],
    params={"delay_ms": 60000},
) as worker_drill:
    session = MixCreateSessionOperator(task_id="create_session", title="worker drill ({{ run_id }})")
    session >> MixSendMessageOperator(
        task_id="turn",
        session_id=session.output,
        text=f"Worker drill turn. {DELAY}",
        deferrable=False,
        timeout=900,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )

with DAG(
    dag_id="mix_drill_supervised",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "drill"],
) as supervised_drill:
    session = MixCreateSessionOperator(task_id="create_session", title="supervised drill ({{ run_id }})")
    session >> MixSendMessageOperator(
        task_id="turn",
        session_id=session.output,
        text="List the release folder. [[permission:bash:ls -la]]",
        permission_policy={"on_undecided": "ask"},
        deferrable=True,
        timeout=900,
        retries=0,
    )
