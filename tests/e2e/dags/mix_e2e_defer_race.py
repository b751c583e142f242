"""Turns whose trigger has its event at once: a permission request within milliseconds of the message
(asked of a person) and an instant reply. The e2e scheduler learns late that their deferring process
exited (``tests/e2e/late_exit_executor.py``): Airflow's defer race, which the provider must survive.

A slow turn runs first, so that the triggerer has made its one-off start-up (its in-process Execution
API) before the fast turns defer: a cold triggerer picks them up too late to race.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator

TURNS = {
    "warm_up": ("Warm the triggerer up. [[delay:3000]]", None),
    "fast_ask": ("List the release folder. [[permission:bash:ls -la]]", {"on_undecided": "ask"}),
    "fast_reply": ("Say hello. [[delay:0]]", None),
}

with DAG(dag_id="mix_e2e_defer_race", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    turns = {}
    for name, (text, policy) in TURNS.items():
        session = MixCreateSessionOperator(
            task_id=f"create_session_{name}", title=f"defer race {name} ({{{{ run_id }}}})"
        )
        turns[name] = MixSendMessageOperator(
            task_id=name,
            session_id=session.output,
            text=text,
            permission_policy=policy,
            deferrable=True,
            timeout=600,
            retries=0,
        )
        session >> turns[name]
    turns["warm_up"] >> [turns["fast_ask"], turns["fast_reply"]]
