"""Supervision policies: who answers the agent's permission requests and notifications, decided once.

A Mix run blocks on a tool's ``permission`` request until ``POST /api/permissions/{id}/grant|deny``
(30 s on the real server, then it counts as denied) and on every ``notification`` until
``POST /api/notifications/{id}/respond``. The policies below say what to answer; :func:`decide` is
the one pure verdict the blocking wait and the trigger both act on. Policies are small frozen
dataclasses that round-trip through JSON (they travel in a trigger's kwargs) and hold no secrets::

    PermissionPolicy(rules=(PermissionRule(tool="bash", command="ls *"),), on_undecided="fail")
    NotificationPolicy(answers={"Deploy to prod?": "no"}, on_undecided="ask")

What no rule decides goes to ``on_undecided``: ``fail`` (cancel the run, fail with a typed error
naming the tool and the action) or ``ask`` (hand it to a person; the operator does that through
Airflow's human-in-the-loop).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client import operations as ops
from mix_provider.client.operations import Call
from mix_provider.client.validation import known_keys, one_of
from mix_provider.errors import MixConfigError

GRANT, DENY, RESPOND, FAIL, ASK = "grant", "deny", "respond", "fail", "ask"
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


@dataclass(frozen=True)
class Request:
    """A permission request or notification read from the stream (the fields a decision needs).

    :param kind: ``permission`` or ``notification``.
    :param id: the request id to answer.
    :param tool: the tool asking (``bash``, ``Write``; ``Notify`` for notifications).
    :param description: what the agent says it wants to do (``Execute command: ls``) or the message.
    :param command: a bash command, if any.
    :param path: the file a tool writes, else the request's path.
    :param notification_type: ``info``, ``warning``, ``error`` or ``question``.
    :param title: the notification's title.
    :param response_type: ``acknowledge``, ``text`` or ``choice``.
    :param choices: the offered choices.
    """

    kind: str
    id: str
    tool: str = ""
    description: str = ""
    command: str | None = None
    path: str | None = None
    notification_type: str | None = None
    title: str = ""
    response_type: str = "acknowledge"
    choices: tuple[str, ...] = ()

    @classmethod
    def of(cls, event_name: str, data: Mapping[str, Any]) -> Request | None:
        """The request an SSE event carries (``permission`` or ``notification``), else None."""
        if event_name not in ("permission", "notification") or not data.get("id"):
            return None
        if event_name == "permission":
            raw = data.get("params")
            params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            command, target = params.get("command"), params.get("file_path") or data.get("path")
            description = str(data.get("description") or data.get("action") or "")
            return cls(
                "permission",
                str(data["id"]),
                str(data.get("toolName") or ""),
                description,
                command if isinstance(command, str) else None,
                target if isinstance(target, str) else None,
            )
        offered = data.get("choices")
        choices: list[Any] = offered if isinstance(offered, list) else []
        return cls(
            "notification",
            str(data["id"]),
            "Notify",
            str(data.get("message") or ""),
            notification_type=str(data.get("notificationType") or "info"),
            title=str(data.get("title") or ""),
            response_type=str(data.get("responseType") or "acknowledge"),
            choices=tuple(map(str, choices)),
        )

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (a trigger event asking a person)."""
        return {**self.__dict__, "choices": list(self.choices)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Request:
        """Inverse of :meth:`to_json`."""
        return cls(**{**data, "choices": tuple(data.get("choices") or ())})

    def summary(self, limit: int = 200) -> str:
        """One line for logs and messages: the tool and what it wants, cut to ``limit`` characters."""
        if self.kind == "permission":
            what = self.command or self.path or self.description
            text = f"{self.tool} {what!r}" + (
                f" ({self.description})" if self.description and self.description != what else ""
            )
        else:
            text = f"{self.notification_type} notification {self.title or self.description!r} ({self.response_type})"
        return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Decision:
    """What to do with a request: ``grant``, ``deny``, ``respond`` (with ``value``), ``fail`` or ``ask``.

    :param rule: which rule decided, for logs (None when nothing did).
    """

    action: str
    rule: str | None = None
    response_type: str = ""
    value: str = ""

    def answer(self, request: Request) -> Call[Any] | None:
        """The call that sends this decision to Mix, if it is an answer."""
        if self.action == GRANT:
            return ops.grant_permission(request.id)
        if self.action == DENY:
            return ops.deny_permission(request.id)
        if self.action == RESPOND:
            return ops.respond_to_notification(request.id, self.response_type, self.value)
        return None

    def pending(self, request: Request) -> dict[str, Any]:
        """This decision about ``request`` as small JSON, to send later (:func:`pending_answer`)."""
        return {
            "kind": request.kind,
            "id": request.id,
            "action": self.action,
            "rule": self.rule,
            "response_type": self.response_type,
            "value": self.value,
        }

    def describe(self) -> str:
        """``grant by permission_policy.rules[0] (...)``, for logs."""
        verb = f"answer {self.value!r}" if self.action == RESPOND and self.value else self.action
        return f"{verb} ({self.rule or 'no rule decided'})"


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


def answer_of(request: Request, chosen: str) -> Decision:
    """A person's choice (``Grant``/``Deny``, a choice, or an acknowledgement) as a decision."""
    if request.kind == "permission":
        return Decision(GRANT if chosen.lower() == GRANT else DENY, "a person")
    kind = request.response_type
    return Decision(RESPOND, "a person", kind, "" if kind == "acknowledge" else chosen)


def pending_answer(data: Mapping[str, Any]) -> Call[Any] | None:
    """The call of a decision saved by :meth:`Decision.pending`."""
    decision = Decision(
        str(data["action"]), data.get("rule"), str(data.get("response_type") or ""), str(data.get("value") or "")
    )
    return decision.answer(Request(str(data["kind"]), str(data["id"])))
