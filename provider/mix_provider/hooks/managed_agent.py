"""MixHook as a ``common.ai`` managed agent (``BaseManagedAgentHook``), behind the ``common-ai`` extra.

An agent name resolves to a session preset (:mod:`mix_provider.hooks.agent_presets`). A request
without ``session_id`` creates a session from the preset; one with ``session_id`` continues that
conversation. Each request is one Mix turn (:meth:`MixHook.send_and_wait`)::

    hook = MixHook("mix_default")
    toolset = ManagedAgentToolset(hook.agent("triage"), tool_name="ask_triage_agent")

Failures are sorted as the contract asks: a ``permission_denied`` reply raises
``ManagedAgentRejected`` (the calling model may rephrase); other failed replies, bad arguments,
missing sessions and refused credentials raise ``ManagedAgentInvocationError``; transient errors
(transport, 429, 5xx, a reply that did not finish in time) propagate unchanged for Airflow's retry.
Without ``apache-airflow-providers-common-ai`` the provider works as before and these methods
raise ``AirflowOptionalProviderFeatureException``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from airflow.providers.common.compat.sdk import AirflowOptionalProviderFeatureException

from mix_provider.client import TurnKey
from mix_provider.client.outcome import SuccessEvent
from mix_provider.client.usage import TurnBaseline
from mix_provider.client.validation import positive_number
from mix_provider.errors import MixConfigError, MixError, MixReplyFailedError, MixReplyTimeoutError, is_retryable
from mix_provider.hooks.agent_presets import (
    AgentPreset,
    parse_preset,
    parse_presets,
    pick_preset,
    turn_options,
)

if TYPE_CHECKING:
    from mix_provider.client import MessageOptions, Reply, SessionSpec
    from mix_provider.client.wait import SendOptions
    from mix_provider.hooks.connection import ConnectionSettings
    from mix_provider.models import SessionData

try:
    from airflow.providers.common.ai.exceptions import ManagedAgentInvocationError, ManagedAgentRejected
    from airflow.providers.common.ai.managed_agents.base import (
        BaseManagedAgentHook,
        ManagedAgentCapabilities,
        ManagedAgentRef,
        ManagedAgentResponse,
        ManagedAgentUsage,
    )

    HAS_COMMON_AI = True
except ImportError:  # the provider works without the extra; the managed-agent methods say what is missing
    HAS_COMMON_AI = False
    BaseManagedAgentHook = object

#: The platform id of every :class:`ManagedAgentRef` from Mix.
PLATFORM = "mix"
#: Finish reasons a calling model can act on by rephrasing (``ManagedAgentRejected``).
REJECTED_FINISH_REASONS = frozenset({"permission_denied"})
#: Finish reasons that fail the invocation (``ManagedAgentInvocationError``).
FAILED_FINISH_REASONS = frozenset({"error", "max_tokens", "canceled"})


def require_common_ai() -> None:
    """Raise ``AirflowOptionalProviderFeatureException`` unless the ``common-ai`` extra is installed."""
    if not HAS_COMMON_AI:
        raise AirflowOptionalProviderFeatureException(
            "Mix as a managed agent needs apache-airflow-providers-common-ai: "
            "pip install 'airflow-provider-mix[common-ai]'"
        )


def request_text(request: Any) -> str:
    """The text of a request: its prompt, or the text parts of its messages (roles shown when several)."""
    if request.prompt is not None:
        return str(request.prompt)
    lines = []
    for message in request.as_messages():
        content = message.get("content", "")
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content if isinstance(p, dict)]
        text = "\n".join(part for part in parts if part)
        lines.append(f"{message.get('role', 'user')}: {text}" if len(request.messages) > 1 else text)
    return "\n\n".join(lines)


class MixManagedAgentMixin(BaseManagedAgentHook):  # type: ignore[misc]
    """The ``BaseManagedAgentHook`` side of :class:`~mix_provider.hooks.mix.MixHook`."""

    agent_platform: ClassVar[str] = PLATFORM

    if TYPE_CHECKING:  # provided by MixHook

        @property
        def settings(self) -> ConnectionSettings: ...

        def get_session(self, session_id: str) -> SessionData: ...

        def create_session(self, spec: SessionSpec | str) -> SessionData: ...

        def send_and_wait(
            self, session_id: str, text: str, options: MessageOptions = ..., **waits: Unpack[SendOptions]
        ) -> Reply: ...

    @cached_property
    def _call_presets(self) -> dict[str, AgentPreset]:
        return {}

    @cached_property
    def configured_agents(self) -> dict[str, AgentPreset]:
        """The presets of the connection's ``extra.agents`` (parsed with the rest of ``extra``, checked once)."""
        return parse_presets(self.settings.extra.get("agents"))

    def agent(self, agent: str, **preset: Any) -> Any:
        """Bind ``agent`` (a ``BoundManagedAgent``); keyword arguments define or override its preset.

        :param preset: preset keys (``custom_system_prompt``, ``prompt_mode``, ``callbacks``,
            ``browser_mode``, ``cdp_url``, ``title``, ``plan_mode``, ``thinking_level``,
            ``max_steps``, ``timeout``), checked now.
        """
        require_common_ai()
        if preset:
            self._call_presets[agent] = parse_preset(agent, preset, f"agent({agent!r})")
        return super().agent(agent)

    def agent_preset(self, agent: str) -> AgentPreset:
        """The preset ``agent`` resolves to (the call's, else the connection's, else ``default``)."""
        registered = self._call_presets
        return pick_preset(agent, registered, {} if agent in registered else self.configured_agents)

    def resolve_agent(self, agent: str) -> Any:
        """``ManagedAgentRef(platform="mix", name=agent)``; an unknown name raises naming the known ones."""
        require_common_ai()
        try:
            self.agent_preset(agent)
        except MixConfigError as exc:
            raise ManagedAgentInvocationError(str(exc)) from exc
        return ManagedAgentRef(platform=PLATFORM, name=agent)

    def get_agent_capabilities(self, agent: str) -> Any:
        """Sessions (``session_id``), usage (tokens; cost in ``raw``) and trace (the reply's message id)."""
        require_common_ai()
        return ManagedAgentCapabilities(sessions=True, structured_output=False, usage=True, trace=True)

    def invoke_agent(self, agent: str, request: Any) -> Any:
        """One turn: create (or continue) the session, send the request's text, wait for the reply."""
        require_common_ai()
        try:
            preset = self.agent_preset(agent)
            options = preset.turn.merged(turn_options("vendor_options", request.vendor_options or {}))
            text = request_text(request)
            if not text.strip():
                raise MixConfigError("prompt", "must not be empty")
            timeout = preset.timeout if request.timeout is None else positive_number("timeout", request.timeout)
            if request.session_id:
                session = self.get_session(request.session_id)
            else:
                session = self.create_session(preset.session)
            turn = TurnKey.of(session.user_message_count, text, session.callbacks)
            reply = self.send_and_wait(session.id, text, options, turn=turn, timeout=timeout)
            after, tokens = self.get_session(session.id), self.turn_tokens(session.id, reply)
            outcome = SuccessEvent.of(session.id, reply, TurnBaseline.of(session), after, tokens=tokens)
        except MixReplyFailedError as exc:
            raise _failed(agent, exc.finish_reason, exc.session_id, str(exc)) from exc
        except MixError as exc:
            if is_retryable(exc) or isinstance(exc, MixReplyTimeoutError):
                raise
            raise ManagedAgentInvocationError(f"Mix agent {agent!r}: {exc}") from exc
        return _response(agent, reply, outcome)


def _failed(agent: str, reason: str | None, session_id: str, text: str) -> Exception:
    message = f"Mix agent {agent!r} (session {session_id}) ended its turn with {reason!r}: {text[:500]}"
    if reason in REJECTED_FINISH_REASONS:
        return ManagedAgentRejected(message)  # type: ignore[no-any-return]
    return ManagedAgentInvocationError(message)  # type: ignore[no-any-return]


def _response(agent: str, reply: Reply, outcome: SuccessEvent) -> Any:
    reason = reply.finish_reason
    if reason in REJECTED_FINISH_REASONS or reason in FAILED_FINISH_REASONS:
        raise _failed(agent, reason, outcome.session_id, reply.text)
    raw = {key: value for key, value in outcome.result().items() if key not in ("reply", "decisions")}
    usage = None
    if (spent := outcome.usage) is not None:
        usage = ManagedAgentUsage(input_tokens=spent.prompt_tokens, output_tokens=spent.completion_tokens)
    return ManagedAgentResponse(
        text=reply.text,
        raw={"agent": agent, **raw},
        session_id=outcome.session_id,
        usage=usage,
        trace_ref=reply.message_id or None,
    )
