"""MixHook as a common.ai managed agent, against the local Mix server (``mix_default``, ``mix_faults``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("airflow.providers.common.ai.managed_agents")

from airflow.providers.common.ai.exceptions import ManagedAgentInvocationError, ManagedAgentRejected
from airflow.providers.common.ai.managed_agents import BaseManagedAgentHook, ManagedAgentRequest

from mix_provider.errors import MixServerError
from mix_provider.hooks.mix import MixHook

pytestmark = pytest.mark.integration
AGENTS = {"triage": {"custom_system_prompt": "Be terse.", "prompt_mode": "append", "thinking_level": "off"}}


@pytest.fixture
def hook(mix_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[MixHook]:
    """A hook on ``mix_agents``: ``mix_default``'s server with an ``extra.agents`` preset."""
    conn = {"conn_type": "mix", "host": mix_server.base_url, "extra": {"max_retries": 1, "agents": AGENTS}}
    monkeypatch.setenv("AIRFLOW_CONN_MIX_AGENTS", json.dumps(conn))
    with MixHook("mix_agents") as mix_hook:
        yield mix_hook


def test_mixhook_is_a_managed_agent_hook(hook: MixHook) -> None:
    assert isinstance(hook, BaseManagedAgentHook)
    bound = hook.agent("triage")
    assert (bound.ref.platform, bound.ref.name) == ("mix", "triage")
    caps = bound.capabilities
    assert (caps.sessions, caps.usage, caps.trace, caps.structured_output) == (True, True, True, False)


def test_a_preset_creates_the_session_and_a_session_id_continues_it(hook: MixHook) -> None:
    first = hook.agent("triage").invoke(ManagedAgentRequest(prompt="Hello there"))
    assert first.text == "You said: Hello there"
    assert first.session_id and first.trace_ref == first.raw["message_id"]
    # the current server reports no per-message usage: tokens unknown (None), never last-call counts
    assert first.usage is not None and (first.usage.input_tokens, first.usage.output_tokens) == (None, None)
    assert first.raw["cost"] > 0 and first.raw["agent"] == "triage"
    assert "reply" not in first.raw

    second = hook.agent("triage").invoke(ManagedAgentRequest(prompt="Again", session_id=first.session_id))
    assert second.session_id == first.session_id and second.text == "You said: Again"
    assert hook.get_session(first.session_id).user_message_count == 2


def test_a_call_preset_and_messages(hook: MixHook) -> None:
    bound = hook.agent("writer", title="Writer run", max_steps=3)
    messages = [{"role": "user", "content": [{"type": "text", "text": "Draft a note"}]}]
    response = bound.invoke(ManagedAgentRequest(messages=messages, vendor_options={"plan_mode": False}))
    assert response.text == "You said: Draft a note"
    assert hook.get_session(response.session_id).user_message_count == 1
    assert hook.agent_preset("writer").session.title == "Writer run"
    assert hook.agent_preset("triage").session.title == "triage (Airflow managed agent)"


def test_permission_denied_is_a_rejection(hook: MixHook) -> None:
    with pytest.raises(ManagedAgentRejected, match="permission_denied"):
        hook.agent("default").invoke(ManagedAgentRequest(prompt="Delete it [[finish:permission_denied]]"))


def test_an_error_reply_is_an_invocation_error(hook: MixHook) -> None:
    with pytest.raises(ManagedAgentInvocationError, match="'error'"):
        hook.agent("default").invoke(ManagedAgentRequest(prompt="Boom [[finish:error]]"))


@pytest.mark.parametrize(
    ("agent", "request_kwargs", "match"),
    [
        ("nobody", {"prompt": "hi"}, "'nobody' is not a known agent; accepted: default, triage"),
        ("default", {"prompt": "hi", "vendor_options": {"mix_conn_id": "x"}}, "vendor_options.mix_conn_id"),
        ("default", {"prompt": "hi", "vendor_options": {"thinking_level": "huge"}}, "off, basic, medium, maximum"),
        ("default", {"prompt": "hi", "session_id": "00000000-0000-0000-0000-000000000000"}, "404"),
        ("default", {"prompt": "   "}, "prompt: must not be empty"),
        ("default", {"prompt": "hi", "timeout": 0}, "timeout: must be a positive number"),
    ],
)
def test_bad_requests_are_invocation_errors(hook: MixHook, agent: str, request_kwargs: Any, match: str) -> None:
    with pytest.raises(ManagedAgentInvocationError, match=match):
        hook.invoke_agent(agent, ManagedAgentRequest(**request_kwargs))


def test_a_bad_preset_names_its_field(hook: MixHook) -> None:
    from mix_provider.errors import MixConfigError

    with pytest.raises(MixConfigError, match=r"agent\('x'\)\.prompt_mode"):
        hook.agent("x", custom_system_prompt="Be terse.")


def test_transient_errors_propagate(fault_server: Any, faults_conn: str) -> None:
    with MixHook(faults_conn) as hook:
        session_id = hook.create_session("transient").id
        fault_server.add_fault("status", method="GET", path=f"/api/sessions/{session_id}$", status=503, count=10)
        with pytest.raises(MixServerError):
            hook.agent("default").invoke(ManagedAgentRequest(prompt="hi", session_id=session_id))
