"""Named session presets: what a managed-agent name (``hook.agent("triage")``) stands for on Mix.

A preset is the session a request to that agent starts (title, system prompt and its mode,
callbacks, browser) plus defaults of each turn (plan mode, thinking level, step cap, wait). Presets
come from the connection's ``extra.agents`` (a JSON object of name -> preset) or from the call
(``hook.agent("triage", custom_system_prompt=..., prompt_mode="append")``), the call winning. The
name ``default`` always exists: a plain session. Pure functions on plain values; every error names
its field and the accepted values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client.options import MessageOptions, SessionSpec, check_model
from mix_provider.client.validation import (
    check_browser,
    check_callbacks,
    check_system_prompt,
    coerce_enum,
    json_object,
    known_keys,
    optional_int,
    optional_text,
    positive_number,
    require_bool,
)
from mix_provider.errors import MixConfigError
from mix_provider.models import BrowserMode, Callback, PromptMode, ThinkingLevel

#: The agent name that needs no preset: a session with the server's defaults.
DEFAULT_AGENT = "default"
#: The keys a preset may have.
PRESET_KEYS = frozenset(
    {
        "title",
        "custom_system_prompt",
        "prompt_mode",
        "callbacks",
        "browser_mode",
        "cdp_url",
        "plan_mode",
        "thinking_level",
        "max_steps",
        "timeout",
        "model_id",
        "provider",
    }
)
#: Per-request options a caller may send in ``ManagedAgentRequest.vendor_options`` (turn settings
#: only: nothing that changes which server, connection or session preset the call goes to).
TURN_OPTION_KEYS = frozenset({"plan_mode", "thinking_level", "max_steps"})
#: Seconds a turn may take when neither the request nor the preset says.
DEFAULT_TURN_TIMEOUT = 3600.0


@dataclass(frozen=True)
class TurnOptions:
    """How one message is sent: plan mode, thinking level and step cap (None: the server's default)."""

    plan_mode: bool | None = None
    thinking_level: ThinkingLevel | None = None
    max_steps: int | None = None

    def merged(self, other: TurnOptions) -> TurnOptions:
        """These options with every value ``other`` sets taking precedence."""
        return TurnOptions(
            plan_mode=self.plan_mode if other.plan_mode is None else other.plan_mode,
            thinking_level=other.thinking_level or self.thinking_level,
            max_steps=other.max_steps or self.max_steps,
        )

    def message_options(self) -> MessageOptions:
        """The :class:`~mix_provider.client.MessageOptions` of :meth:`MixHook.send_and_wait`."""
        return MessageOptions.checked(
            plan_mode=self.plan_mode, thinking_level=self.thinking_level, max_steps=self.max_steps
        )


@dataclass(frozen=True)
class AgentPreset:
    """The session an agent's first request creates, and its turn defaults."""

    name: str
    title: str | None = None
    custom_system_prompt: str | None = field(default=None, repr=False)
    prompt_mode: PromptMode | None = None
    callbacks: tuple[Callback, ...] = ()
    browser_mode: BrowserMode = BrowserMode.LOCAL_BROWSER_SERVICE
    cdp_url: str | None = None
    turn: TurnOptions = TurnOptions()
    timeout: float = DEFAULT_TURN_TIMEOUT
    model_id: str | None = None
    provider: str | None = None

    def session_spec(self) -> SessionSpec:
        """The :class:`~mix_provider.client.SessionSpec` of :meth:`MixHook.create_session` (title included)."""
        return SessionSpec.checked(
            self.title or f"{self.name} (Airflow managed agent)",
            browser_mode=self.browser_mode,
            cdp_url=self.cdp_url,
            custom_system_prompt=self.custom_system_prompt,
            prompt_mode=self.prompt_mode,
            callbacks=list(self.callbacks) or None,
            model_id=self.model_id,
            provider=self.provider,
        )


def turn_options(
    field_name: str, values: Mapping[str, Any], accepted: frozenset[str] = TURN_OPTION_KEYS
) -> TurnOptions:
    """Validate turn settings (``plan_mode``, ``thinking_level``, ``max_steps``), refusing any other key."""
    known_keys(field_name, values.keys(), accepted)
    plan = values.get("plan_mode")
    level = values.get("thinking_level")
    return TurnOptions(
        plan_mode=None if plan is None else require_bool(f"{field_name}.plan_mode", plan),
        thinking_level=None
        if level in (None, "")
        else coerce_enum(f"{field_name}.thinking_level", ThinkingLevel, level),
        max_steps=optional_int(f"{field_name}.max_steps", values.get("max_steps"), minimum=1),
    )


def parse_preset(name: str, values: Mapping[str, Any], field_name: str) -> AgentPreset:
    """Validate one preset (``values``) of agent ``name``; errors name ``field_name.<key>``."""
    if not isinstance(values, Mapping):
        raise MixConfigError(field_name, f"must be a JSON object of preset keys, got {type(values).__name__}")
    known_keys(field_name, values.keys(), PRESET_KEYS)
    prompt = optional_text(f"{field_name}.custom_system_prompt", values.get("custom_system_prompt"))
    try:
        mode = check_system_prompt(values.get("prompt_mode"), prompt)
        browser = check_browser(values.get("browser_mode") or BrowserMode.LOCAL_BROWSER_SERVICE, values.get("cdp_url"))
        callbacks = check_callbacks(values["callbacks"]) if values.get("callbacks") else []
        model_id, provider = check_model(values.get("model_id"), values.get("provider"))
    except MixConfigError as exc:
        raise MixConfigError(f"{field_name}.{exc.field}", str(exc).split(": ", 1)[-1]) from None
    timeout = values.get("timeout")
    return AgentPreset(
        name=name,
        title=optional_text(f"{field_name}.title", values.get("title")) or None,
        custom_system_prompt=prompt or None,
        prompt_mode=mode,
        callbacks=tuple(callbacks),
        browser_mode=browser,
        cdp_url=values.get("cdp_url") or None,
        turn=turn_options(field_name, values, PRESET_KEYS),
        timeout=DEFAULT_TURN_TIMEOUT if timeout is None else positive_number(f"{field_name}.timeout", timeout),
        model_id=model_id,
        provider=provider,
    )


def parse_presets(value: object, field_name: str = "extra.agents") -> dict[str, AgentPreset]:
    """All presets of the connection's ``extra.agents`` (an object of name -> preset)."""
    presets = {}
    for name, values in json_object(field_name, value, example='{"triage": {...}}').items():
        if not isinstance(name, str) or not name.strip():
            raise MixConfigError(field_name, f"agent names must be non-empty strings, got {name!r}")
        presets[name] = parse_preset(name, values, f"{field_name}.{name}")
    return presets


def pick_preset(
    agent: object, registered: Mapping[str, AgentPreset], configured: Mapping[str, AgentPreset]
) -> AgentPreset:
    """The preset of ``agent``: registered by the call, else from the connection, else ``default``."""
    if not isinstance(agent, str) or not agent.strip():
        raise MixConfigError("agent", f"must be a non-empty agent name, got {agent!r}")
    if agent in registered:
        return registered[agent]
    if agent in configured:
        return configured[agent]
    if agent == DEFAULT_AGENT:
        return AgentPreset(name=DEFAULT_AGENT)
    names = ", ".join(sorted({DEFAULT_AGENT, *registered, *configured}))
    raise MixConfigError("agent", f"{agent!r} is not a known agent; accepted: {names} (see extra.agents)")
