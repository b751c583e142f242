"""The supervision of a turn as configuration: who answers the agent's requests, and its budget.

Everything here is checked once, holds no secret and round-trips through JSON: it travels in a
trigger's kwargs (:class:`Supervision`). :func:`decide` is the one pure verdict on a request that the
blocking wait and the trigger both act on (through :mod:`.supervisor`)::

    PermissionPolicy(rules=(PermissionRule(tool="bash", command="ls *"),), on_undecided="fail")
    NotificationPolicy(answers={"Deploy to prod?": "no"}, on_undecided="ask")
    Budget.checked(max_cost_usd=0.5)

What no rule decides goes to ``on_undecided``: ``fail`` (cancel the run, fail with a typed error
naming the tool and the action) or ``ask`` (hand it to a person; the operator does that through
Airflow's human-in-the-loop).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client.requests import ASK, DENY, FAIL, GRANT, RESPOND, Decision, Request
from mix_provider.client.usage import TurnUsage
from mix_provider.client.validation import known_keys, one_of
from mix_provider.errors import MixBudgetExceededError, MixConfigError

RULE_ACTIONS = (GRANT, DENY)
UNDECIDED = (FAIL, ASK)
NOTIFICATION_TYPES = ("info", "warning", "error", "question")
_RULE_KEYS = ("tool", "command", "path", "action")
_PERMISSION_KEYS = ("rules", "on_undecided")
_NOTIFICATION_KEYS = ("acknowledge", "answers", "default_choice", "on_undecided")


def _pattern(name: str, value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise MixConfigError(name, f"must be a non-empty fnmatch pattern such as 'ls *' or None; got {value!r}")


def _mapping(name: str, value: object, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MixConfigError(name, f"must be a dict with keys from: {', '.join(keys)}; got {value!r}")
    known_keys(name, value.keys(), keys)
    return value


@dataclass(frozen=True)
class PermissionRule:
    """Grant or deny a tool whose name, command and path match fnmatch patterns (None matches anything).

    :param tool: the tool name pattern (``bash``, ``Write``, ``*``), compared case-insensitively.
    :param command: a pattern of a bash command (``ls *``); a rule with one never matches other tools.
    :param path: a pattern of the file a tool writes (``/tmp/*``), else of the request's path.
    :param action: ``grant`` or ``deny``.
    """

    tool: str = "*"
    command: str | None = None
    path: str | None = None
    action: str = GRANT

    def __post_init__(self) -> None:
        _pattern("permission_policy.rules.tool", self.tool)
        _pattern("permission_policy.rules.command", self.command)
        _pattern("permission_policy.rules.path", self.path)
        one_of("permission_policy.rules.action", self.action, RULE_ACTIONS)

    def matches(self, request: Request) -> bool:
        """Whether this rule covers ``request`` (a permission)."""
        if not fnmatch.fnmatchcase(request.tool.lower(), self.tool.lower()):
            return False
        if self.command is not None and (
            request.command is None or not fnmatch.fnmatchcase(request.command, self.command)
        ):
            return False
        return self.path is None or (request.path is not None and fnmatch.fnmatchcase(request.path, self.path))

    def describe(self, index: int) -> str:
        """``rules[0] (tool='bash', command='ls *') -> grant``, for logs."""
        shown = ", ".join(f"{key}={getattr(self, key)!r}" for key in ("tool", "command", "path") if getattr(self, key))
        return f"permission_policy.rules[{index}] ({shown}) -> {self.action}"


@dataclass(frozen=True)
class PermissionPolicy:
    """The rules tried in order (first match wins), and what happens when none matches.

    :param rules: :class:`PermissionRule` s (or dicts of their fields).
    :param on_undecided: ``fail`` (default: cancel the run and fail) or ``ask`` (a person decides).
    """

    rules: tuple[PermissionRule, ...] = ()
    on_undecided: str = FAIL

    def __post_init__(self) -> None:
        one_of("permission_policy.on_undecided", self.on_undecided, UNDECIDED)

    @classmethod
    def checked(cls, value: PermissionPolicy | Mapping[str, Any] | None) -> PermissionPolicy:
        """A policy from a policy, a dict such as ``{"rules": [{"tool": "bash", "command": "ls *"}]}``, or None.

        :raises MixConfigError: naming the field and the accepted values.
        """
        if value is None or isinstance(value, PermissionPolicy):
            return value or cls()
        data = _mapping("permission_policy", value, _PERMISSION_KEYS)
        rules = data.get("rules", ())
        if isinstance(rules, (str, Mapping)) or not isinstance(rules, (list, tuple)):
            raise MixConfigError("permission_policy.rules", f"must be a list of rules; got {rules!r}")
        parsed = tuple(
            rule
            if isinstance(rule, PermissionRule)
            else PermissionRule(**_mapping("permission_policy.rules", rule, _RULE_KEYS))
            for rule in rules
        )
        return cls(parsed, data.get("on_undecided", FAIL))

    def to_json(self) -> dict[str, Any]:
        """The JSON form :meth:`checked` reads back."""
        rules = [
            {key: getattr(rule, key) for key in _RULE_KEYS if getattr(rule, key) is not None} for rule in self.rules
        ]
        return {"rules": rules, "on_undecided": self.on_undecided}


@dataclass(frozen=True)
class NotificationPolicy:
    """How notifications are answered.

    :param acknowledge: types whose ``acknowledge`` notifications are acknowledged (default info,
        warning, error).
    :param answers: answers by the notification's message or title (a question's exact text).
    :param default_choice: the choice given to any ``choice`` question offering it.
    :param on_undecided: ``fail`` (default) or ``ask``.
    """

    acknowledge: tuple[str, ...] = ("info", "warning", "error")
    answers: Mapping[str, str] = field(default_factory=dict)
    default_choice: str | None = None
    on_undecided: str = FAIL

    def __post_init__(self) -> None:
        for kind in self.acknowledge:
            one_of("notification_policy.acknowledge", kind, NOTIFICATION_TYPES)
        for question, answer in self.answers.items():
            if not isinstance(question, str) or not isinstance(answer, str):
                raise MixConfigError("notification_policy.answers", "must map question texts to answer strings")
        if self.default_choice is not None and not isinstance(self.default_choice, str):
            raise MixConfigError("notification_policy.default_choice", "must be a string or None")
        one_of("notification_policy.on_undecided", self.on_undecided, UNDECIDED)

    def __hash__(self) -> int:
        return hash((self.acknowledge, tuple(sorted(self.answers.items())), self.default_choice, self.on_undecided))

    @classmethod
    def checked(cls, value: NotificationPolicy | Mapping[str, Any] | None) -> NotificationPolicy:
        """A policy from a policy, a dict of its fields, or None (the defaults).

        :raises MixConfigError: naming the field and the accepted values.
        """
        if value is None or isinstance(value, NotificationPolicy):
            return value or cls()
        data = dict(_mapping("notification_policy", value, _NOTIFICATION_KEYS))
        kinds = data.get("acknowledge", cls.acknowledge)
        if isinstance(kinds, str) or not isinstance(kinds, (list, tuple, set, frozenset)):
            raise MixConfigError(
                "notification_policy.acknowledge", f"must be a list of: {', '.join(NOTIFICATION_TYPES)}"
            )
        answers = data.get("answers") or {}
        if not isinstance(answers, Mapping):
            raise MixConfigError(
                "notification_policy.answers", f"must be a dict of question -> answer; got {answers!r}"
            )
        return cls(tuple(kinds), dict(answers), data.get("default_choice"), data.get("on_undecided", FAIL))

    def to_json(self) -> dict[str, Any]:
        """The JSON form :meth:`checked` reads back."""
        return {
            "acknowledge": list(self.acknowledge),
            "answers": dict(self.answers),
            "default_choice": self.default_choice,
            "on_undecided": self.on_undecided,
        }


def decide(request: Request, permissions: PermissionPolicy, notifications: NotificationPolicy) -> Decision:
    """The verdict on one request: the first matching rule, else the policy's ``on_undecided``."""
    if request.kind == "permission":
        for index, rule in enumerate(permissions.rules):
            if rule.matches(request):
                return Decision(rule.action, rule.describe(index))
        return Decision(permissions.on_undecided)
    return _answer(request, notifications)


def _answer(request: Request, policy: NotificationPolicy) -> Decision:
    kind = request.response_type
    if kind == "acknowledge" and request.notification_type in policy.acknowledge:
        return Decision(RESPOND, f"notification_policy.acknowledge ({request.notification_type})", "acknowledge")
    for key in (request.description, request.title):
        answer = policy.answers.get(key)
        if answer is not None and (kind != "choice" or answer in request.choices):
            return Decision(RESPOND, f"notification_policy.answers[{key!r}]", kind, answer)
    if kind == "choice" and policy.default_choice in request.choices:
        return Decision(RESPOND, "notification_policy.default_choice", kind, str(policy.default_choice))
    return Decision(policy.on_undecided)


@dataclass(frozen=True)
class Budget:
    """Limits of one turn: cost in US dollars and tokens (prompt + completion); None is no limit."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None

    @classmethod
    def checked(cls, max_cost_usd: object = None, max_tokens: object = None) -> Budget:
        """Validate both limits (positive numbers, ``max_tokens`` an int).

        :raises MixConfigError: naming the limit.
        """
        cost = max_cost_usd
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost <= 0):
            raise MixConfigError("max_cost_usd", f"must be a positive number of US dollars or None; got {cost!r}")
        tokens = max_tokens
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
            raise MixConfigError("max_tokens", f"must be a positive int or None; got {tokens!r}")
        return cls(None if cost is None else float(cost), tokens)

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return self.max_cost_usd is not None or self.max_tokens is not None

    def breach(self, session_id: str, usage: TurnUsage) -> MixBudgetExceededError | None:
        """The error when ``usage`` passes a limit, else None."""
        if self.max_tokens is not None and usage.tokens > self.max_tokens:
            return MixBudgetExceededError(session_id, "max_tokens", self.max_tokens, usage.tokens)
        if self.max_cost_usd is not None and usage.cost > self.max_cost_usd:
            return MixBudgetExceededError(session_id, "max_cost_usd", self.max_cost_usd, round(usage.cost, 6))
        return None


@dataclass(frozen=True)
class Supervision:
    """The policies and budget of a turn, checked once; travels as JSON in a trigger's kwargs.

    :param permissions: the permission policy.
    :param notifications: the notification policy.
    :param budget: the turn's limits.
    """

    permissions: PermissionPolicy = field(default_factory=PermissionPolicy)
    notifications: NotificationPolicy = field(default_factory=NotificationPolicy)
    budget: Budget = field(default_factory=Budget)

    @classmethod
    def checked(
        cls,
        permission_policy: PermissionPolicy | Mapping[str, Any] | None = None,
        notification_policy: NotificationPolicy | Mapping[str, Any] | None = None,
        max_cost_usd: object = None,
        max_tokens: object = None,
    ) -> Supervision:
        """Validate everything (see each policy's ``checked``).

        :raises MixConfigError: naming the field and the accepted values.
        """
        return cls(
            PermissionPolicy.checked(permission_policy),
            NotificationPolicy.checked(notification_policy),
            Budget.checked(max_cost_usd, max_tokens),
        )

    @property
    def asks(self) -> tuple[str, ...]:
        """The policies that may hand a request to a person (``on_undecided='ask'``)."""
        named = (("permission_policy", self.permissions), ("notification_policy", self.notifications))
        return tuple(name for name, policy in named if policy.on_undecided == ASK)

    def to_json(self) -> dict[str, Any]:
        """Small JSON form, read back by :meth:`from_json`."""
        return {
            "permission_policy": self.permissions.to_json(),
            "notification_policy": self.notifications.to_json(),
            "max_cost_usd": self.budget.max_cost_usd,
            "max_tokens": self.budget.max_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Supervision:
        """Inverse of :meth:`to_json` (None: the defaults)."""
        return cls.checked(**(data or {}))
