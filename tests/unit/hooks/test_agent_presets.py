"""Session presets of managed agents, and the managed-agent methods without the common-ai extra."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

from mix_provider.client import MessageOptions
from mix_provider.errors import MixConfigError
from mix_provider.hooks import managed_agent
from mix_provider.hooks.agent_presets import DEFAULT_AGENT, parse_presets, pick_preset
from mix_provider.hooks.mix import MixHook
from mix_provider.models import BrowserMode, PromptMode, ThinkingLevel


def test_presets_parse_from_a_json_string() -> None:
    presets = parse_presets(
        '{"triage": {"custom_system_prompt": "Be terse.", "prompt_mode": "append", "max_steps": 4,'
        ' "callbacks": [{"type": "bash_script", "tool_name": "Bash", "bash_command": "echo ok"}], "timeout": 60}}'
    )
    triage = presets["triage"]
    assert (triage.session.prompt_mode, triage.turn.max_steps, triage.timeout) == (PromptMode.APPEND, 4, 60.0)
    spec = triage.session
    assert spec.title == "triage (Airflow managed agent)"
    assert spec.browser_mode is BrowserMode.LOCAL_BROWSER_SERVICE and len(spec.callbacks or ()) == 1
    assert "Be terse" not in repr(triage)
    assert spec.model_id is None and "modelId" not in spec.to_wire()


def test_a_preset_names_its_model() -> None:
    spec = parse_presets({"vision": {"model_id": "gemini-3-flash-preview", "provider": "gemini"}})["vision"].session
    assert spec.to_wire()["modelId"] == "gemini-3-flash-preview" and spec.to_wire()["provider"] == "gemini"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("[1]", "extra.agents: must be a JSON object"),
        ("{", "extra.agents: is not valid JSON"),
        ({"a": {"sytem_prompt": "x"}}, "extra.agents.a.sytem_prompt: is not a known key"),
        ({"a": {"custom_system_prompt": "x"}}, "extra.agents.a.prompt_mode"),
        ({"a": {"prompt_mode": "loud"}}, "'loud' is not one of: default, append, replace"),
        ({"a": {"browser_mode": "remote-cdp-websocket"}}, "extra.agents.a.cdp_url"),
        ({"a": {"thinking_level": "lots"}}, "extra.agents.a.thinking_level"),
        ({"a": {"max_steps": 0}}, "extra.agents.a.max_steps: must be an integer >= 1"),
        ({"a": {"timeout": -1}}, "extra.agents.a.timeout: must be a positive number"),
        ({"a": {"plan_mode": "yes"}}, "extra.agents.a.plan_mode: must be true or false"),
        ({"a": "prompt"}, "extra.agents.a: must be a JSON object"),
        ({"a": {"model_id": "m-1"}}, "extra.agents.a.provider: is required with model_id"),
    ],
)
def test_bad_presets_name_the_field(value: object, match: str) -> None:
    with pytest.raises(MixConfigError, match=match):
        parse_presets(value)


def test_pick_prefers_the_call_then_the_connection_then_default() -> None:
    call = parse_presets({"a": {"title": "call"}})
    conn = parse_presets({"a": {"title": "conn"}, "b": {"title": "b"}})
    assert pick_preset("a", call, conn).session.title == "call"
    assert pick_preset("b", call, conn).session.title == "b"
    assert pick_preset(DEFAULT_AGENT, {}, {}).name == DEFAULT_AGENT
    with pytest.raises(MixConfigError, match="'c' is not a known agent; accepted: a, b, default"):
        pick_preset("c", call, conn)
    with pytest.raises(MixConfigError, match="agent: must be a non-empty agent name"):
        pick_preset("", call, conn)


def test_turn_options_merge() -> None:
    base = MessageOptions(plan_mode=True, thinking_level=ThinkingLevel.OFF, max_steps=3)
    merged = base.merged(MessageOptions(plan_mode=False, max_steps=5))
    assert merged == MessageOptions(plan_mode=False, thinking_level=ThinkingLevel.OFF, max_steps=5)


def test_without_common_ai_the_hook_works_and_the_agent_methods_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(managed_agent, "HAS_COMMON_AI", False)
    hook = MixHook()
    for call in (lambda: hook.agent("a"), lambda: hook.resolve_agent("a"), lambda: hook.invoke_agent("a", None)):
        with pytest.raises(AirflowOptionalProviderFeatureException, match=r"airflow-provider-mix\[common-ai\]"):
            call()


def test_the_provider_imports_without_common_ai() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('managed_agents', 'managed_agents.base', 'exceptions'):\n"
        "    sys.modules['airflow.providers.common.ai.' + name] = None\n"
        "from mix_provider.hooks import managed_agent\n"
        "from mix_provider.hooks.mix import MixHook\n"
        "assert managed_agent.HAS_COMMON_AI is False and MixHook().conn_type == 'mix'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
