"""The pure supervision verdicts: rules, notification answers, undecided requests, JSON round trips."""

from __future__ import annotations

import json

import pytest

from mix_provider.client.policies import (
    Budget,
    NotificationPolicy,
    PermissionPolicy,
    PermissionRule,
    Supervision,
    decide,
)
from mix_provider.client.requests import Decision, Request, answer_of
from mix_provider.client.stream import StreamEvent
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.usage import TurnBaseline, UsageRead
from mix_provider.errors import MixAskRequired, MixBudgetExceededError, MixConfigError, MixUndecidedRequestError
from mix_provider.models import SessionTotals

BASH = {
    "type": "permission",
    "id": "p1",
    "toolName": "bash",
    "description": "Execute command: ls -la",
    "action": "Execute command: ls -la",
    "path": "/data/storage/s",
    "params": {"command": "ls -la", "timeout": 0},
}
WRITE = {
    "type": "permission",
    "id": "p2",
    "toolName": "Write",
    "description": "Create file /etc/hosts",
    "action": "write",
    "path": "/etc",
    "params": {"file_path": "/etc/hosts", "diff": "..."},
}
QUESTION = {
    "type": "notification",
    "id": "n1",
    "notificationType": "question",
    "title": "Deploy to prod?",
    "message": "Deploy to prod?",
    "responseType": "choice",
    "choices": ["yes", "no"],
    "timeout": 5,
}
NOTHING = NotificationPolicy()


def _request(data: dict[str, object]) -> Request:
    request = Request.of(str(data["type"]), data)
    assert request is not None
    return request


def test_the_first_matching_rule_decides() -> None:
    policy = PermissionPolicy.checked(
        {"rules": [{"tool": "BASH", "command": "rm *", "action": "deny"}, {"tool": "bash", "command": "ls *"}]}
    )
    assert decide(_request(BASH), policy, NOTHING) == Decision(
        "grant", "permission_policy.rules[1] (tool='bash', command='ls *') -> grant"
    )
    write = decide(_request(WRITE), PermissionPolicy((PermissionRule("write", path="/etc/*", action="deny"),)), NOTHING)
    assert write.action == "deny"


def test_undecided_goes_to_on_undecided() -> None:
    assert decide(_request(BASH), PermissionPolicy(), NOTHING).action == "fail"
    assert decide(_request(BASH), PermissionPolicy(on_undecided="ask"), NOTHING).action == "ask"
    # a command pattern never matches a tool without a command
    assert decide(_request(WRITE), PermissionPolicy((PermissionRule("*", command="*"),)), NOTHING).action == "fail"


def test_notifications() -> None:
    policy = NotificationPolicy.checked({"answers": {"Deploy to prod?": "no"}})
    assert decide(_request(QUESTION), PermissionPolicy(), policy) == Decision(
        "respond", "notification_policy.answers['Deploy to prod?']", "choice", "no"
    )
    assert (
        decide(_request(QUESTION), PermissionPolicy(), NotificationPolicy(answers={"Deploy to prod?": "maybe"})).action
        == "fail"
    )
    assert decide(_request(QUESTION), PermissionPolicy(), NotificationPolicy(default_choice="yes")).value == "yes"
    info = {**QUESTION, "notificationType": "info", "responseType": "acknowledge", "choices": []}
    assert decide(_request(info), PermissionPolicy(), NOTHING).response_type == "acknowledge"
    assert decide(_request(info), PermissionPolicy(), NotificationPolicy(acknowledge=())).action == "fail"


def test_a_person_s_answer() -> None:
    assert answer_of(_request(BASH), "Grant").action == "grant"
    assert answer_of(_request(BASH), "Deny").action == "deny"
    assert answer_of(_request(QUESTION), "yes") == Decision("respond", "a person", "choice", "yes")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"rules": "ls"}, "permission_policy.rules: must be a list"),
        ({"rules": [{"tool": "bash", "verb": "grant"}]}, "permission_policy.rules.verb: is not a known key"),
        ({"on_undecided": "wait"}, "permission_policy.on_undecided: 'wait' is not one of: fail, ask"),
        ("grant", "permission_policy: must be a dict"),
    ],
)
def test_bad_permission_policies_name_the_field(value: object, message: str) -> None:
    with pytest.raises(MixConfigError, match=message):
        PermissionPolicy.checked(value)  # type: ignore[arg-type]


def test_policies_round_trip_through_json() -> None:
    supervision = Supervision.checked(
        {"rules": [{"tool": "bash", "command": "ls *"}]}, {"answers": {"Q?": "no"}}, 0.5, 99
    )
    assert Supervision.from_json(json.loads(json.dumps(supervision.to_json()))) == supervision
    assert Request.from_json(json.loads(json.dumps(_request(QUESTION).to_json()))) == _request(QUESTION)


def test_the_supervisor_answers_stops_and_asks() -> None:
    supervisor = Supervisor("s", permissions=PermissionPolicy((PermissionRule("bash", command="ls *"),)))
    step = supervisor.on_event(StreamEvent("permission", BASH))
    assert step.answer is not None and step.answer.path == "/api/permissions/p1/grant"
    stop = supervisor.on_event(StreamEvent("permission", WRITE))
    assert isinstance(stop.error, MixUndecidedRequestError) and stop.cancel
    asking = Supervisor("s", notifications=NotificationPolicy(on_undecided="ask")).on_event(
        StreamEvent("notification", QUESTION)
    )
    assert isinstance(asking.error, MixAskRequired) and not asking.cancel
    assert supervisor.tally == {"granted": 1, "denied": 0, "answered": 0, "asked": 0}


def test_the_budget_reads_totals_and_stops() -> None:
    budget = Budget.checked(max_cost_usd=0.01)
    supervisor = Supervisor("s", budget=budget, baseline=TurnBaseline(cost=0.5))
    step = supervisor.on_event(StreamEvent("tool_execution_start", {"toolCallId": "t1"}))
    assert step.usage == UsageRead(tokens=False), "a cost budget reads the session's totals only"
    over = supervisor.after_usage(SessionTotals(prompt_tokens=20, completion_tokens=10, cost=0.52))
    assert isinstance(over.error, MixBudgetExceededError) and over.cancel
    assert (over.error.limit, over.error.spent) == ("max_cost_usd", 0.02)


def test_the_token_budget_compares_the_turns_per_message_tokens() -> None:
    """Session token fields are the last call's (``agent.go`` ``TrackUsage``): tokens come from messages
    (which ones: ``test_wait_flow``'s running-usage tests and ``test_client_usage``'s ``budget_ids``)."""
    supervisor = Supervisor("s", budget=Budget.checked(max_tokens=100), baseline=TurnBaseline(user_messages=1))
    step = supervisor.on_event(StreamEvent("tool_execution_start", {"toolCallId": "t1"}))
    assert step.usage == UsageRead(tokens=True)
    totals = SessionTotals(prompt_tokens=5, completion_tokens=1, cost=0.0)
    assert supervisor.after_usage(totals, (60, 30)).error is None, "the session's last-call fields are not read"
    over = supervisor.after_usage(totals, (80, 30))
    assert isinstance(over.error, MixBudgetExceededError) and (over.error.limit, over.error.spent) == (
        "max_tokens",
        110,
    )
    assert supervisor.after_usage(totals, None).error is None, "unknown tokens never breach"
    with pytest.raises(MixConfigError, match="max_tokens"):
        Budget.checked(max_tokens=1.5)
