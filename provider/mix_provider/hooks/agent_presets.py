"""Named session presets: what a managed-agent name (``hook.agent("triage")``) stands for on Mix.

A preset is the session a request to that agent starts (title, system prompt and its mode,
callbacks, browser) plus defaults of each turn (plan mode, thinking level, step cap, wait). Presets
come from the connection's ``extra.agents`` (a JSON object of name -> preset) or from the call
(``hook.agent("triage", custom_system_prompt=..., prompt_mode="append")``), the call winning. The
name ``default`` always exists: a plain session. Pure functions on plain values; every error names
its field and the accepted values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mix_provider.client.options import NO_OPTIONS, MessageOptions, SessionSpec
from mix_provider.client.validation import json_object, known_keys, positive_number
from mix_provider.errors import MixConfigError

T = TypeVar("T")

#: The agent name that needs no preset: a session with the server's defaults.
DEFAULT_AGENT = "default"
#: The preset keys of the session (:meth:`SessionSpec.checked <mix_provider.client.SessionSpec.checked>`).
SESSION_KEYS = (
    "title",
    "custom_system_prompt",
    "prompt_mode",
    "callbacks",
    "browser_mode",
    "cdp_url",
    "model_id",
    "provider",
)
#: Per-request options a caller may send in ``ManagedAgentRequest.vendor_options`` (turn settings
#: only: nothing that changes which server, connection or session preset the call goes to); they
#: are :meth:`MessageOptions.checked <mix_provider.client.MessageOptions.checked>`'s arguments.
TURN_OPTION_KEYS = frozenset({"plan_mode", "thinking_level", "max_steps"})
#: The keys a preset may have.
PRESET_KEYS = frozenset({*SESSION_KEYS, *TURN_OPTION_KEYS, "timeout"})
#: Seconds a turn may take when neither the request nor the preset says.
DEFAULT_TURN_TIMEOUT = 3600.0


@dataclass(frozen=True)
class AgentPreset:
    """An agent: the session its first request creates, the options of each of its turns, its wait."""

    name: str
    session: SessionSpec
    turn: MessageOptions = NO_OPTIONS
    timeout: float = DEFAULT_TURN_TIMEOUT

    @classmethod
    def plain(cls, name: str) -> AgentPreset:
        """A preset with the server's defaults."""
        return cls(name, SessionSpec.checked(_title(name)))


def _title(name: str) -> str:
    return f"{name} (Airflow managed agent)"


def _under(field_name: str, build: Callable[[], T]) -> T:
    """``build()``, its error naming the field under ``field_name`` (``extra.agents.triage.max_steps``)."""
    try:
        return build()
    except MixConfigError as exc:
        raise MixConfigError(f"{field_name}.{exc.field}", str(exc).split(": ", 1)[-1]) from None


def turn_options(
    field_name: str, values: Mapping[str, Any], accepted: frozenset[str] = TURN_OPTION_KEYS
) -> MessageOptions:
    """Validate turn settings (``plan_mode``, ``thinking_level``, ``max_steps``), refusing any other key."""
    known_keys(field_name, values.keys(), accepted)
    options = {key: values.get(key) for key in TURN_OPTION_KEYS}
    return _under(field_name, lambda: MessageOptions.checked(**options))


def parse_preset(name: str, values: Mapping[str, Any], field_name: str) -> AgentPreset:
    """Validate one preset (``values``) of agent ``name``; errors name ``field_name.<key>``."""
    if not isinstance(values, Mapping):
        raise MixConfigError(field_name, f"must be a JSON object of preset keys, got {type(values).__name__}")
    known_keys(field_name, values.keys(), PRESET_KEYS)
    session: dict[str, Any] = {key: values[key] for key in SESSION_KEYS if values.get(key) not in (None, "", [])}
    title = session.pop("title", None) or _title(name)
    spec = _under(field_name, lambda: SessionSpec.checked(title, **session))
    timeout = values.get("timeout")
    return AgentPreset(
        name=name,
        session=spec,
        turn=turn_options(field_name, values, PRESET_KEYS),
        timeout=DEFAULT_TURN_TIMEOUT if timeout is None else positive_number(f"{field_name}.timeout", timeout),
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
        return AgentPreset.plain(DEFAULT_AGENT)
    names = ", ".join(sorted({DEFAULT_AGENT, *registered, *configured}))
    raise MixConfigError("agent", f"{agent!r} is not a known agent; accepted: {names} (see extra.agents)")
