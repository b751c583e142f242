"""The agent's requests that wait for an answer, and the decisions that answer them.

A Mix run blocks on a tool's ``permission`` request until ``POST /api/permissions/{id}/grant|deny``
(30 s on the real server, then it counts as denied) and on every ``notification`` until
``POST /api/notifications/{id}/respond``. :class:`Request` is what a decision needs of such an SSE
event; :class:`Decision` is the answer (a policy's, see :mod:`.policies`, or a person's:
:func:`answer_of`), sent at once or saved as small JSON and sent later (:func:`pending_answer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mix_provider.client import operations as ops
from mix_provider.client.operations import Call

GRANT, DENY, RESPOND, FAIL, ASK = "grant", "deny", "respond", "fail", "ask"


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
