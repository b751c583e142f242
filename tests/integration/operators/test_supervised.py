"""MixSendMessageOperator supervised through dag.test(): every policy path and the budget, in both modes.

The local server asks for permission on ``[[permission:...]]`` and notifies on ``[[question:...]]`` /
``[[notify:...]]``; its final reply names each answer (``permission granted: bash``, ``answered: no``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.errors import MixConfigError
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.version_compat import AIRFLOW_V_3_3_PLUS
from support.integration import MixAPI, states, xcom

START = datetime(2026, 1, 1)
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])


def _turn(run_dag: Any, uid: str, api: MixAPI, text: str, **supervision: Any) -> tuple[Any, str]:
    session_id = api.create_session(f"supervised {uid}")["id"]
    with DAG(f"supervised_{uid}", schedule=None, start_date=START) as dag:
        MixSendMessageOperator(
            task_id="turn", session_id=session_id, text=text, timeout=60, poll_interval=0.2, **supervision
        )
    return run_dag(dag), session_id


@MODES
def test_a_rule_grants_bash(run_dag: Any, api: MixAPI, uid: str, deferrable: bool, capfd: Any) -> None:
    policy = {"rules": [{"tool": "bash", "command": "ls *", "action": "grant"}]}
    dr, _ = _turn(run_dag, uid, api, "list [[permission:bash:ls -la]]", permission_policy=policy, deferrable=deferrable)
    assert dr.state == "success", states(dr)
    result = xcom(dr, "turn")
    assert "permission granted: bash" in result["reply"]
    assert result["decisions"] == {"granted": 1, "denied": 0, "answered": 0, "asked": 0}
    out = capfd.readouterr().out
    assert "Mix permission request bash 'ls -la'" in out and "permission_policy.rules[0]" in out
    assert "Mix tool started: bash" in out and "Mix tool finished: bash" in out
    assert xcom(dr, "turn", key="mix_usage")["turn"]["cost"] == result["cost"]


@MODES
def test_a_rule_denies_a_write(run_dag: Any, api: MixAPI, uid: str, deferrable: bool) -> None:
    policy = {"rules": [{"tool": "bash", "action": "grant"}, {"tool": "write", "path": "/etc/*", "action": "deny"}]}
    text = "edit [[permission:write:/etc/hosts]]"
    dr, _ = _turn(run_dag, uid, api, text, permission_policy=policy, deferrable=deferrable)
    assert dr.state == "success", states(dr)
    result = xcom(dr, "turn")
    assert "permission denied: Write" in result["reply"]
    assert result["decisions"]["denied"] == 1


@MODES
def test_an_undecided_permission_cancels_and_fails(
    run_dag: Any, api: MixAPI, uid: str, deferrable: bool, capfd: Any
) -> None:
    dr, session_id = _turn(run_dag, uid, api, "wipe [[permission:bash:rm -rf /tmp/x]]", deferrable=deferrable)
    assert dr.state == "failed", states(dr)
    out = capfd.readouterr().out
    assert "MixUndecidedRequestError" in out and "bash 'rm -rf /tmp/x'" in out and "was cancelled" in out
    # cancelled during its tools: the tool message holds error results and no final answer follows
    deadline = time.monotonic() + 10
    while all(m["role"] != "tool" for m in api.export(session_id)["messages"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(m["role"] for m in api.export(session_id)["messages"]) == ["assistant", "tool", "user"]


@MODES
def test_notifications_acknowledged_and_answered(run_dag: Any, api: MixAPI, uid: str, deferrable: bool) -> None:
    text = "go [[notify:warning:disk almost full]] [[question:Deploy to prod?|yes,no]] [[question:Colour?|red,blue]]"
    policy = {"answers": {"Deploy to prod?": "no"}, "default_choice": "blue"}
    dr, _ = _turn(run_dag, uid, api, text, notification_policy=policy, deferrable=deferrable)
    assert dr.state == "success", states(dr)
    result = xcom(dr, "turn")
    assert (
        "acknowledged" in result["reply"] and "answered: no" in result["reply"] and "answered: blue" in result["reply"]
    )
    assert result["decisions"]["answered"] == 3


def test_an_undecided_question_fails(run_dag: Any, api: MixAPI, uid: str, capfd: Any) -> None:
    dr, _ = _turn(run_dag, uid, api, "ask [[question:Deploy to prod?|yes,no]]", deferrable=True)
    assert dr.state == "failed", states(dr)
    assert "no rule of notification_policy decided" in capfd.readouterr().out


@pytest.fixture
def warm_api(fresh_mix_server: Any) -> Iterator[MixAPI]:
    """A private server with one answered message: the legacy generation's shows per-message usage (tokens
    measurable), the current one's shows none (max_tokens refused); a fresh server cannot tell either."""
    client = MixAPI(fresh_mix_server.base_url)
    client.converse(client.create_session("warm up")["id"], "hello")
    yield client
    client.close()


LEGACY = pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
TIE_ORDERS = pytest.mark.parametrize("tie_order", ["insertion", "shuffled"])


@pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)
@MODES
@TIE_ORDERS
def test_the_token_budget_cancels_the_run(
    run_dag: Any, fresh_mix_server: Any, warm_api: MixAPI, uid: str, deferrable: bool, capfd: Any
) -> None:
    """On ``shuffled`` ties the run's first round is listed before its user message (same second): the
    budget still counts it. Without per-message usage (``current``) max_tokens is refused before sending."""
    api = warm_api
    dr, session_id = _turn(run_dag, uid, api, "tools [[tool]] [[delay:1500]]", max_tokens=1, deferrable=deferrable)
    assert dr.state == "failed", states(dr)
    out = capfd.readouterr().out
    if fresh_mix_server.generation == "current":
        assert "MixTokensUnmeasurableError" in out and "no per-message usage" in out
        assert api.export(session_id)["messages"] == [], "refused before sending"
        return
    assert "MixBudgetExceededError" in out and "max_tokens=1" in out
    usage = xcom(dr, "turn", key="mix_usage")
    assert usage["turn"]["prompt_tokens"] + usage["turn"]["completion_tokens"] > 1
    time.sleep(0.5)  # the cancelled run stores its tool message, and no final answer
    assert "end_turn" not in [m.get("finishReason") for m in api.export(session_id)["messages"]]
    assert usage["all_tries"]["cost"] == usage["turn"]["cost"]


@LEGACY
def test_a_templated_budget_and_timeout_render_from_params(
    run_dag: Any, warm_api: MixAPI, uid: str, capfd: Any
) -> None:
    session_id = warm_api.create_session(f"templated {uid}")["id"]
    params = {"tokens": 1, "wait": 60, "steps": 5}
    with DAG(f"templated_budget_{uid}", schedule=None, start_date=START, params=params) as dag:
        MixSendMessageOperator(
            task_id="turn",
            session_id=session_id,
            text="tools [[tool]] [[delay:1500]]",
            max_tokens="{{ params.tokens }}",
            timeout="{{ params.wait }}",
            max_steps="{{ params.steps }}",
            poll_interval=0.2,
            deferrable=True,
        )
    dr = run_dag(dag)
    assert dr.state == "failed", states(dr)
    assert "MixBudgetExceededError" in capfd.readouterr().out
    assert xcom(dr, "turn", key="mix_usage")["turn"]["prompt_tokens"] > 1


def test_the_cost_budget_is_checked_at_the_end_too(run_dag: Any, api: MixAPI, uid: str, capfd: Any) -> None:
    dr, _ = _turn(run_dag, uid, api, "no tools here", max_cost_usd=1e-9, deferrable=False)
    assert dr.state == "failed", states(dr)
    assert "max_cost_usd=1e-09" in capfd.readouterr().out
    assert xcom(dr, "turn", key="mix_usage")["turn"]["cost"] > 1e-9


def test_policies_are_checked_at_parse_time() -> None:
    with pytest.raises(MixConfigError, match=r"permission_policy.rules.action: 'allow' is not one of: grant, deny"):
        MixSendMessageOperator(
            task_id="t", session_id="s", text="x", permission_policy={"rules": [{"action": "allow"}]}
        )
    with pytest.raises(
        MixConfigError, match=r"notification_policy.reply: is not a known key; accepted: acknowledge, answers"
    ):
        MixSendMessageOperator(task_id="t", session_id="s", text="x", notification_policy={"reply": "no"})
    with pytest.raises(MixConfigError, match="max_tokens"):
        MixSendMessageOperator(task_id="t", session_id="s", text="x", max_tokens=0)


def test_ask_is_refused_without_hitl(monkeypatch: pytest.MonkeyPatch) -> None:
    import mix_provider.operators._hitl as hitl

    monkeypatch.setattr(hitl, "HAS_HITL", False)
    with pytest.raises(MixConfigError, match=r"permission_policy.on_undecided: 'ask' needs Airflow >= 3.1"):
        MixSendMessageOperator(task_id="t", session_id="s", text="x", permission_policy={"on_undecided": "ask"})


@pytest.fixture
def person() -> Iterator[dict[str, Any]]:
    """A person answering Airflow's required actions from another thread, as the UI's API does."""
    answers: dict[str, Any] = {"choices": [], "seen": []}
    stop = threading.Event()

    def respond() -> None:
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        # A person reads before clicking: answer a request seen waiting for a second, so the answer
        # does not race dag.test() settling the task into AWAITING_INPUT (its write could undo ours).
        # Should a recorded answer still find the task waiting two seconds later, submit it again.
        first_seen: dict[Any, float] = {}
        submitted: dict[Any, float] = {}
        while not stop.wait(0.3):
            now = time.monotonic()
            with create_session() as session:
                query = select(HITLDetail).join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
                query = query.where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                for detail in session.scalars(query):
                    if detail.response_received:
                        if now - submitted.get(detail.ti_id, now) < 2:
                            continue
                    elif not answers["choices"] or now - first_seen.setdefault(detail.ti_id, now) < 1:
                        continue
                    else:
                        answers["seen"].append({"subject": detail.subject, "options": list(detail.options)})
                        detail.chosen_options = [answers["choices"].pop(0)]
                        detail.responded_by = {"id": "ada", "name": "Ada"}
                        detail.responded_at = datetime.now().astimezone()
                        detail.params_input = {}
                    submitted[detail.ti_id] = now
                    ti = session.get(TaskInstance, detail.ti_id)
                    handle_event_submit(
                        TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
                    )

    thread = threading.Thread(target=respond, daemon=True)
    thread.start()
    yield answers
    stop.set()
    thread.join(5)


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="dag.test() resumes human-in-the-loop tasks from Airflow 3.3")
@MODES
@pytest.mark.parametrize("choice", ["Grant", "Deny"])
def test_a_person_decides(
    run_dag: Any, api: MixAPI, uid: str, deferrable: bool, choice: str, person: dict[str, Any], capfd: Any
) -> None:
    person["choices"].append(choice)
    policy = {"on_undecided": "ask"}
    dr, _ = _turn(run_dag, uid, api, "list [[permission:bash:ls -la]]", permission_policy=policy, deferrable=deferrable)
    assert dr.state == "success", states(dr)
    assert person["seen"] == [
        {"subject": "Mix agent asks: bash 'ls -la' (Execute command: ls -la)", "options": ["Grant", "Deny"]}
    ]
    result = xcom(dr, "turn")
    assert f"permission {'granted' if choice == 'Grant' else 'denied'}: bash" in result["reply"]
    assert result["decisions"]["asked"] == 1
    assert result["decisions"]["granted" if choice == "Grant" else "denied"] == 1
    assert "answered by Ada" in capfd.readouterr().out


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="dag.test() resumes human-in-the-loop tasks from Airflow 3.3")
def test_a_person_answers_a_question(run_dag: Any, api: MixAPI, uid: str, person: dict[str, Any]) -> None:
    person["choices"].append("no")
    text = "deploy? [[question:Deploy to prod?|yes,no]]"
    dr, _ = _turn(run_dag, uid, api, text, notification_policy={"on_undecided": "ask"}, deferrable=True)
    assert dr.state == "success", states(dr)
    assert person["seen"][0]["options"] == ["yes", "no"]
    assert "answered: no" in xcom(dr, "turn")["reply"]


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="dag.test() resumes human-in-the-loop tasks from Airflow 3.3")
def test_a_second_ask_in_one_try_cancels_and_fails(
    run_dag: Any, api: MixAPI, uid: str, person: dict[str, Any], capfd: Any
) -> None:
    person["choices"].append("Grant")
    text = "two [[permission:bash:ls -la]] [[permission:bash:cat /etc/passwd]]"
    dr, _ = _turn(run_dag, uid, api, text, permission_policy={"on_undecided": "ask"}, deferrable=False)
    assert dr.state == "failed", states(dr)
    assert "a second request needs a person in this task try (bash 'cat /etc/passwd'" in capfd.readouterr().out


def test_progress_lines_for_sub_agents_and_masked_secrets(
    run_dag: Any, api: MixAPI, uid: str, masked_logging: None, capfd: Any
) -> None:
    from airflow.sdk.log import mask_secret

    secret = f"tok-{uid}-s3cr3t"
    mask_secret(secret)
    policy = {"rules": [{"tool": "bash", "command": "curl *"}]}
    text = f"go [[subagent]] [[permission:bash:curl -H 'X-Token: {secret}' https://example.test]]"
    dr, _ = _turn(run_dag, uid, api, text, permission_policy=policy, deferrable=True)
    assert dr.state == "success", states(dr)
    out = capfd.readouterr().out
    assert "Mix sub-agent started (tool call" in out and "Mix sub-agent finished (tool call" in out
    assert "Mix tool started: Task" in out
    assert "Mix permission request bash \"curl -H 'X-Token: ***' https://example.test\"" in out
    assert secret not in out


@MODES
def test_a_sub_agents_permission_request_is_answered_by_the_policy(
    run_dag: Any, api: MixAPI, uid: str, deferrable: bool, capfd: Any
) -> None:
    """``sse.go`` forwards a sub-agent's ``permission`` event only to the sub-agent's own stream: the
    supervised wait follows that stream once the ``task`` tool starts, and the same policy answers."""
    policy = {"rules": [{"tool": "bash", "command": "ls *", "action": "grant"}]}
    text = "delegate [[subagent:permission:bash:ls -la]]"
    started = time.monotonic()
    dr, session_id = _turn(run_dag, uid, api, text, permission_policy=policy, deferrable=deferrable)
    assert dr.state == "success", states(dr)
    result = xcom(dr, "turn")
    assert result["reply"].splitlines()[-1] == "sub-agent permission granted: bash", "answered, not timed out"
    assert result["decisions"] == {"granted": 1, "denied": 0, "answered": 0, "asked": 0}
    assert time.monotonic() - started < 30, "never the server's 30 s denial"
    (child,) = [s for s in api.sessions() if s.get("parentSessionId") == session_id]
    out = capfd.readouterr().out
    assert f"Mix sub-agent session {child['id']}" in out and "Mix permission request bash 'ls -la'" in out


@MODES
def test_a_sub_agents_undecided_request_stops_the_turn(
    run_dag: Any, api: MixAPI, uid: str, deferrable: bool, capfd: Any
) -> None:
    """The policy leaves the sub-agent's request undecided: the parent's run is cancelled, the turn fails."""
    text = "delegate [[subagent:permission:bash:rm -rf /tmp/x]]"
    dr, _ = _turn(run_dag, uid, api, text, deferrable=deferrable)
    out = capfd.readouterr().out
    assert (dr.state, "MixUndecidedRequestError" in out) == ("failed", True), states(dr)
    assert "Mix sub-agent session" in out and "bash 'rm -rf /tmp/x'" in out and "was cancelled" in out


@pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)
def test_a_sub_agents_request_is_answered_on_both_generations(fresh_mix_server: Any) -> None:
    """Both generations route a sub-agent's request to its own stream only (``sse.go``) and list
    the sub-agent with its parent (``includeSubagents=true``)."""
    api = MixAPI(fresh_mix_server.base_url)
    session_id = api.create_session("sub-agent asks")["id"]
    api.close()
    policy = {"rules": [{"tool": "bash", "action": "deny"}]}
    op = MixSendMessageOperator(
        task_id="turn",
        session_id=session_id,
        text="delegate [[subagent:permission:bash:curl example.org]]",
        timeout=60,
        poll_interval=0.2,
        permission_policy=policy,
    )
    result = op.execute({})
    assert result["reply"].splitlines()[-1] == "sub-agent permission denied: bash"
    assert result["decisions"]["denied"] == 1, "denied by the policy, not by the server's timeout"
    deadline = time.monotonic() + 2
    while [t for t in threading.enumerate() if t.name.startswith("mix-subagent-")]:
        assert time.monotonic() < deadline, "the watch's thread ends with the wait (its read is cut)"
        time.sleep(0.05)
