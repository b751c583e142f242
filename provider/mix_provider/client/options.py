"""The options of the two write calls, each defined, checked and put on the wire once.

:class:`SessionSpec` (a new session) and :class:`MessageOptions` (one message) travel unchanged from
the operator to the hook to the call description. Build them with ``checked()``: every argument is
validated there, each error naming its field. :func:`check_known` runs the same
checks at DAG parse time, skipping those that read a ``pending`` argument (an operator's templated
field); the operator calls ``checked()`` once the templates are rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

from mix_provider.client.validation import (
    CallbackLike,
    check_browser,
    check_callbacks,
    check_system_prompt,
    coerce_enum,
    optional_enum,
    optional_int,
    optional_text,
    require_bool,
    require_text,
)
from mix_provider.errors import MixAPIError, MixBadRequestError, MixConfigError, MixUnsupportedFieldError
from mix_provider.models import BrowserMode, Callback, PromptMode, ThinkingLevel

T = TypeVar("T")
#: The arguments not known yet, set by :func:`check_known` only.
_PENDING: ContextVar[frozenset[str]] = ContextVar("mix_pending_arguments", default=frozenset())


def _checked(fields: tuple[str, ...], check: Callable[..., T], *values: object) -> T:
    """``check(*values)``, unless one of ``fields`` is pending (then a placeholder nobody sees)."""
    if _PENDING.get().intersection(fields):
        return cast(T, None)  # only under check_known(), which discards what checked() built
    return check(*values)


def check_known(build: Callable[..., object], pending: Collection[str], **arguments: Any) -> None:
    """Run the checks of ``build(**arguments)`` (a ``checked()``) that read no ``pending`` argument.

    For DAG parse time: ``pending`` names an operator's templated fields; what ``build`` makes is
    discarded, since pending fields hold placeholders in it.

    :raises MixConfigError: naming the first invalid field.
    """
    token = _PENDING.set(frozenset(pending))
    try:
        build(**arguments)
    finally:
        _PENDING.reset(token)


def check_model(model_id: object, provider: object) -> tuple[str | None, str | None]:
    """``(model_id, provider)``, blanks as unset; a model needs its provider (the API: "Required when modelId is set")."""
    model = optional_text("model_id", model_id) or None
    owner = optional_text("provider", provider) or None
    if model is not None and owner is None:
        raise MixConfigError("provider", f"is required with model_id {model!r} (e.g. 'anthropic', 'openai', 'gemini')")
    return (model.strip() if model else None), (owner.strip() if owner else None)


@dataclass(frozen=True)
class SessionSpec:
    """A new session: title, browser, system prompt and callbacks, already checked (see :meth:`checked`)."""

    title: str
    browser_mode: BrowserMode = BrowserMode.LOCAL_BROWSER_SERVICE
    cdp_url: str | None = None
    custom_system_prompt: str | None = field(default=None, repr=False)  # may be long, or not for logs
    prompt_mode: PromptMode | None = None
    callbacks: tuple[Callback, ...] | None = None
    model_id: str | None = None
    provider: str | None = None

    @classmethod
    def checked(
        cls,
        title: object,
        *,
        browser_mode: BrowserMode | str = BrowserMode.LOCAL_BROWSER_SERVICE,
        cdp_url: str | None = None,
        custom_system_prompt: str | None = None,
        prompt_mode: PromptMode | str | None = None,
        callbacks: Iterable[CallbackLike] | str | None = None,
        model_id: str | None = None,
        provider: str | None = None,
    ) -> SessionSpec:
        """Validate the arguments and build the spec.

        :param title: session title.
        :param browser_mode: ``electron-embedded-browser``, ``local-browser-service`` or ``remote-cdp-websocket``.
        :param cdp_url: ``ws://`` or ``wss://`` URL, required with ``remote-cdp-websocket`` only.
        :param custom_system_prompt: extra or replacement system prompt.
        :param prompt_mode: ``default``, ``append`` (<= 50 KiB prompt) or ``replace`` (<= 100 KiB).
        :param callbacks: session callbacks (models, or dicts in snake_case or camelCase, or a JSON list).
        :param model_id: the session's model (e.g. ``gemini-3-flash-preview``); the server's default when unset.
        :param provider: the LLM provider owning it (``anthropic``, ``openai``, ``gemini``...), required with
            ``model_id``. Both are sent only when set: servers that predate them refuse them.
        :raises MixConfigError: naming the first invalid field.
        """
        name = _checked(("title",), partial(require_text, "title"), title)
        # Each argument of a pair alone first, so a literal is checked even when its partner is templated.
        _checked(("browser_mode",), partial(coerce_enum, "browser_mode", BrowserMode), browser_mode)
        _checked(("cdp_url",), partial(optional_text, "cdp_url"), cdp_url)
        _checked(("prompt_mode",), partial(optional_enum, "prompt_mode", PromptMode), prompt_mode)
        _checked(("custom_system_prompt",), partial(optional_text, "custom_system_prompt"), custom_system_prompt)
        browser = _checked(("browser_mode", "cdp_url"), check_browser, browser_mode, cdp_url)
        prompt = ("prompt_mode", "custom_system_prompt")
        mode = _checked(prompt, check_system_prompt, prompt_mode, custom_system_prompt)
        parsed = None if callbacks is None else _checked(("callbacks",), check_callbacks, callbacks)
        listed = None if parsed is None else tuple(parsed)
        model = _checked(("model_id", "provider"), check_model, model_id, provider) or (None, None)
        return cls(name, browser, cdp_url or None, custom_system_prompt, mode, listed, *model)

    def to_wire(self) -> dict[str, Any]:
        """The ``POST /api/sessions`` body: only the fields that are set, camelCase."""
        body: dict[str, Any] = {"title": self.title, "browserMode": self.browser_mode.value}
        if self.cdp_url:
            body["cdpUrl"] = self.cdp_url
        if self.prompt_mode is not None:
            body["promptMode"] = self.prompt_mode.value
        if self.custom_system_prompt is not None:
            body["customSystemPrompt"] = self.custom_system_prompt
        if self.callbacks is not None:
            body["callbacks"] = [callback.to_wire() for callback in self.callbacks]
        body.update(self.model_wire())
        return body

    def model_wire(self) -> dict[str, str]:
        """The model fields of the body (``modelId``, ``provider``): only those set."""
        return {key: value for key, value in (("modelId", self.model_id), ("provider", self.provider)) if value}

    def refused(self, error: MixAPIError) -> MixAPIError:
        """``error``, or :class:`MixUnsupportedFieldError` naming every model field we sent when it is a 400
        refusing one of them (Go's strict decoder: ``json: unknown field "modelId"``)."""
        if not isinstance(error, MixBadRequestError):
            return error
        sent = tuple(self.model_wire())
        if not any(f'unknown field "{key}"' in error.message for key in sent):
            return error
        return MixUnsupportedFieldError(sent, error)  # the decoder stops at the first: the others go with it


@dataclass(frozen=True)
class MessageOptions:
    """How the agent treats one message: plan only, reasoning effort, step cap (see :meth:`checked`)."""

    plan_mode: bool | None = None
    thinking_level: ThinkingLevel | None = None
    max_steps: int | None = None

    @classmethod
    def checked(
        cls,
        *,
        plan_mode: bool | None = None,
        thinking_level: ThinkingLevel | str | None = None,
        max_steps: int | None = None,
    ) -> MessageOptions:
        """Validate the arguments and build the options.

        :param plan_mode: ask the agent to plan only.
        :param thinking_level: ``off``, ``basic``, ``medium`` or ``maximum`` (``""`` means unset, as a
            template rendering to nothing).
        :param max_steps: cap on agent steps (>= 1).
        :raises MixConfigError: naming the first invalid field.
        """
        plan = None if plan_mode is None else _checked(("plan_mode",), partial(require_bool, "plan_mode"), plan_mode)
        level = None
        if thinking_level not in (None, ""):
            level = _checked(("thinking_level",), partial(coerce_enum, "thinking_level", ThinkingLevel), thinking_level)
        steps = _checked(("max_steps",), partial(optional_int, "max_steps", minimum=1), max_steps)
        return cls(plan, level, steps)

    def merged(self, other: MessageOptions) -> MessageOptions:
        """These options with every value ``other`` sets taking precedence."""
        return MessageOptions(
            plan_mode=self.plan_mode if other.plan_mode is None else other.plan_mode,
            thinking_level=other.thinking_level or self.thinking_level,
            max_steps=other.max_steps or self.max_steps,
        )

    def to_wire(self) -> dict[str, Any]:
        """The options' part of the ``POST .../messages`` body: only the fields that are set."""
        body: dict[str, Any] = {}
        if self.plan_mode is not None:
            body["plan_mode"] = self.plan_mode
        if self.thinking_level is not None:
            body["thinking_level"] = self.thinking_level.value
        if self.max_steps is not None:
            body["max_steps"] = self.max_steps
        return body


#: A message without options (the server's defaults).
NO_OPTIONS = MessageOptions()
