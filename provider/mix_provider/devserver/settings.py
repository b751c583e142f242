"""Devserver settings and the scripted agent's reply rules."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

DEFAULT_PORT = 8088
DEFAULT_REPLY_DELAY_MS = 50
DEFAULT_HEARTBEAT_S = 45.0
DEFAULT_PERMISSION_TIMEOUT_S = 30.0
"""``permission.go`` ``permissionService.Request`` denies after 30 s without an answer."""

Generation = Literal["current", "legacy"]
"""Which real server the devserver imitates where generations differ (docs/devserver.md,
*Generations*): ``current`` is the newest agent source read, ``legacy`` the older one."""
GENERATIONS: tuple[Generation, ...] = get_args(Generation)
TieOrder = Literal["insertion", "shuffled"]
"""How messages stored in the same second are ordered (docs/devserver.md, *Message order*)."""
DEFAULT_TIE_ORDER: TieOrder = "shuffled"
"""Ties come in an order a client cannot rely on by default, as the real server promises none."""
TIE_ORDERS: tuple[TieOrder, ...] = get_args(TieOrder)


@dataclass(frozen=True)
class ReplyRule:
    """A scripted reply: used when ``pattern`` is found (``re.search``) in the user text.

    :param pattern: compiled regular expression; a plain substring works as-is.
    :param reply: the assistant's reply text.
    :param tool: optional tool call ``{"name", "input", "result"}`` to include.
    :param finish_reason: optional finish reason (default ``end_turn``).
    :param delay_ms: optional reply duration overriding the server default.
    """

    pattern: re.Pattern[str]
    reply: str
    tool: dict[str, Any] | None = None
    finish_reason: str | None = None
    delay_ms: int | None = None


@dataclass(frozen=True)
class Settings:
    """Everything :func:`mix_provider.devserver.app.create_app` needs.

    :param data_dir: directory holding the SQLite database.
    :param reply_delay_ms: total time the scripted agent takes to stream a reply.
    :param rules: scripted reply rules, first match wins.
    :param llm_credentials: when false, sending a message answers 401 like a server
        without an LLM provider.
    :param heartbeat_s: interval of SSE ``heartbeat`` events.
    :param require_permissions: every tool (but ``Task`` and ``Notify``) asks for permission
        and waits for ``/api/permissions/{id}/grant|deny``. On by default, as on the real server;
        ``--dangerously-skip-permissions`` turns it off, under the real server's flag name.
    :param permission_timeout_s: how long a permission request waits before it counts as denied.
    :param generation: the real server generation imitated where they differ (capped listing...).
    :param tie_order: the order of messages stored in the same second, which the real server
        leaves undefined: ``shuffled`` (fixed pseudo-random, so a client that relies on it fails;
        the default) or ``insertion`` (what SQLite's sorter gives in practice).
    """

    data_dir: Path
    reply_delay_ms: int = DEFAULT_REPLY_DELAY_MS
    rules: tuple[ReplyRule, ...] = field(default_factory=tuple)
    llm_credentials: bool = True
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    require_permissions: bool = True
    permission_timeout_s: float = DEFAULT_PERMISSION_TIMEOUT_S
    generation: Generation = "current"
    tie_order: TieOrder = DEFAULT_TIE_ORDER


def load_rules(path: Path) -> tuple[ReplyRule, ...]:
    """Read reply rules from a JSON file holding a list of rule objects.

    :raises ValueError: when the file is not a list of valid rules.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of rules")
    return tuple(_rule(item, index) for index, item in enumerate(raw))


def _rule(item: object, index: int) -> ReplyRule:
    """Build one :class:`ReplyRule` from its JSON object."""
    if not isinstance(item, dict) or not isinstance(item.get("match"), str):
        raise ValueError(f"rule {index}: needs a string 'match'")
    if not isinstance(item.get("reply"), str):
        raise ValueError(f"rule {index}: needs a string 'reply'")
    tool = item.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ValueError(f"rule {index}: 'tool' must be an object")
    delay = item.get("delayMs")
    return ReplyRule(
        pattern=re.compile(item["match"]),
        reply=item["reply"],
        tool=tool,
        finish_reason=item.get("finishReason"),
        delay_ms=int(delay) if delay is not None else None,
    )
