"""``@task.mix`` through ``dag.test()``: the function's prompt, typed replies, rewind-and-retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from mix_provider.hooks.mix import MixHook
from support.integration import states, xcom

pytestmark = pytest.mark.integration


class Triage(BaseModel):
    """The typed answer the tests ask for."""

    priority: Literal["low", "high"]
    reason: str


def _dag(dag_id: str, session_id: str, prompt: str, **options: Any) -> Any:
    from airflow.providers.common.compat.sdk import DAG
    from airflow.sdk import task

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

        @task.mix(session_id=session_id, mix_conn_id="mix_typed", timeout=60, **options)
        def ask(ticket: str) -> str:
            return f"{prompt}: {ticket}"

        ask("Checkout fails with a 500")
    return dag


@pytest.fixture
def hook(typed_server: Any) -> Any:
    with MixHook("mix_typed") as mix_hook:
        yield mix_hook


def test_the_function_returns_the_prompt_and_the_task_returns_the_turn(run_dag: Any, hook: MixHook, uid: str) -> None:
    session_id = hook.create_session(f"plain {uid}").id
    dr = run_dag(_dag(f"mix_plain_{uid}", session_id, "Hello"))
    assert dr.state == "success", states(dr)
    result = xcom(dr, "ask")
    assert result["reply"] == "You said: Hello: Checkout fails with a 500"
    assert result["session_id"] == session_id and result["cost"] > 0 and result["prompt_tokens"] is None


def test_a_valid_json_reply_is_returned_parsed(run_dag: Any, hook: MixHook, uid: str) -> None:
    session_id = hook.create_session(f"typed {uid}").id
    dr = run_dag(_dag(f"mix_typed_{uid}", session_id, "Classify", output_type=Triage))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "ask") == {"priority": "low", "reason": "typo"}
    turn = xcom(dr, "ask", key="mix_turn")
    assert turn["attempts"] == 1 and turn["session_id"] == session_id and turn["cost"] > 0


def test_an_invalid_reply_is_rewound_and_retried_with_the_error(run_dag: Any, hook: MixHook, uid: str) -> None:
    session_id = hook.create_session(f"retry {uid}").id
    hook.send_and_wait(session_id, "Earlier context", timeout=30)
    dr = run_dag(_dag(f"mix_retry_{uid}", session_id, "Grade", output_type=Triage))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "ask") == {"priority": "high", "reason": "fixed"}
    assert xcom(dr, "ask", key="mix_turn")["attempts"] == 2
    users = [m.content for m in hook.export_session(session_id).messages if m.role == "user"]
    assert users[0] == "Earlier context" and len(users) == 2  # the invalid turn was rewound
    assert "could not be used" in users[1] and "Input should be 'low' or 'high'" in users[1]


def test_replies_that_stay_invalid_fail_the_task(run_dag: Any, hook: MixHook, uid: str) -> None:
    session_id = hook.create_session(f"never {uid}").id
    dr = run_dag(_dag(f"mix_never_{uid}", session_id, "Never", output_type=Triage, max_output_retries=1))
    assert dr.state == "failed"
    users = [m for m in hook.export_session(session_id).messages if m.role == "user"]
    assert len(users) == 2  # the first turn opened the session: the retry follows it


@pytest.fixture
def deferrals(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record each run of the message trigger and each resume of the task (its ``mix_typed`` XCom)."""
    from mix_provider.decorators.mix import _MixDecoratedOperator
    from mix_provider.triggers.message import MixMessageTrigger

    seen: dict[str, list[Any]] = {"trigger_runs": [], "resumes": []}
    run, complete = MixMessageTrigger.run, _MixDecoratedOperator.execute_complete

    async def counting_run(self: Any) -> Any:
        seen["trigger_runs"].append(self.session_id)
        async for event in run(self):
            yield event

    def recording_complete(self: Any, context: Any, event: Any = None) -> Any:
        ti = context["ti"]
        seen["resumes"].append(ti.xcom_pull(task_ids=ti.task_id, key="mix_typed", map_indexes=ti.map_index))
        return complete(self, context, event)

    monkeypatch.setattr(MixMessageTrigger, "run", counting_run)
    monkeypatch.setattr(_MixDecoratedOperator, "execute_complete", recording_complete)
    return seen


def test_a_deferred_typed_turn_is_validated_on_resume(
    run_dag: Any, hook: MixHook, uid: str, deferrals: dict[str, list[Any]]
) -> None:
    session_id = hook.create_session(f"deferred typed {uid}").id
    dr = run_dag(_dag(f"mix_deferred_typed_{uid}", session_id, "Classify", output_type=Triage, deferrable=True))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "ask") == {"priority": "low", "reason": "typo"}
    assert deferrals["trigger_runs"] == [session_id], "the wait ran in the trigger"
    assert deferrals["resumes"] == [{"prompt": "Classify: Checkout fails with a 500", "attempt": 1}]


def test_a_deferred_invalid_reply_is_rewound_and_retried_deferring_again(
    run_dag: Any, hook: MixHook, uid: str, deferrals: dict[str, list[Any]]
) -> None:
    session_id = hook.create_session(f"deferred retry {uid}").id
    hook.send_and_wait(session_id, "Earlier context", timeout=30)
    dr = run_dag(_dag(f"mix_deferred_retry_{uid}", session_id, "Grade", output_type=Triage, deferrable=True))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "ask") == {"priority": "high", "reason": "fixed"}
    assert xcom(dr, "ask", key="mix_turn")["attempts"] == 2
    assert deferrals["trigger_runs"] == [session_id, session_id], "each attempt waited in the trigger"
    assert [r["attempt"] for r in deferrals["resumes"]] == [1, 2]
    users = [m.content for m in hook.export_session(session_id).messages if m.role == "user"]
    assert users[0] == "Earlier context" and len(users) == 2 and "could not be used" in users[1]


def test_deferred_replies_that_stay_invalid_fail_the_task(
    run_dag: Any, hook: MixHook, uid: str, deferrals: dict[str, list[Any]]
) -> None:
    session_id = hook.create_session(f"deferred never {uid}").id
    dag = _dag(
        f"mix_deferred_never_{uid}", session_id, "Never", output_type=Triage, max_output_retries=1, deferrable=True
    )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert len(deferrals["trigger_runs"]) == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"output_type": Triage, "deferrable": "yes"}, "deferrable: must be true or false"),
        ({"output_type": 42}, "output_type: must be a type pydantic can validate"),
        ({"output_type": Triage, "max_output_retries": -1}, "max_output_retries: must be an integer >= 0"),
        ({"thinking_level": "lots"}, "thinking_level"),
        ({"output_type": Triage, "wait_for_reply": False}, "wait_for_reply: must be True with output_type"),
    ],
)
def test_bad_options_fail_at_parse_time(options: dict[str, Any], match: str) -> None:
    from mix_provider.errors import MixConfigError

    with pytest.raises(MixConfigError, match=match):
        _dag("mix_bad_options", "s-1", "x", **options)
