"""The permission requests of the sub-agents a supervised turn starts, answered by its supervisor.

The real server forwards a ``permission`` event only to the streams of the session that asks
(``http/sse.go`` ``HandleSSEStream``: ``permissionEvent.Payload.SessionID == sessionID``, the same in
every stored version, the newest broadcast-era one included), and a sub-agent's tools ask under the
sub-agent's own session, which the ``task`` tool creates with the parent's id as its parent
(``llm/agent/task-tool.go`` ``Run`` @ 61622ba4). So the parent's stream never shows those requests,
and unanswered they are denied after 30 s (``permission/permission.go`` ``Request``).

When the parent's stream shows the ``task`` tool starting, the supervised wait looks for the
sub-agent's session (``GET /api/sessions?includeSubagents=true``: the newest session whose parent is
ours and whose parent tool call, where the server names it, is that call; a sub-agent just created is
among the twenty newest a capped list shows) and follows its stream beside the parent's
(:class:`~mix_provider.client.wait.Spawn`), answering each ``permission`` event through the same
supervisor: same policy, same tally, same log lines. The watch ends with the wait.

Events are not replayed: a request made before the watch connected is missed (and denied after
30 s). The sub-agent's first tool call follows at least one LLM call of its own, the window the
watch has; a sub-agent session not found within :data:`FIND_FOR` seconds is logged and not followed.
"""

from __future__ import annotations

import logging
import time

from mix_provider.client import operations as ops
from mix_provider.client.wait import Flow, NextEvent, OpenEvents, Sleep, Wait, act
from mix_provider.errors import MixError, MixTransportError
from mix_provider.models import SessionData

log = logging.getLogger("mix_provider.client")

#: Seconds to look for a sub-agent's session after its ``task`` tool started, and between two looks.
FIND_FOR, FIND_EVERY = 10.0, 0.1


def watch_flow(wait: Wait, call_id: str, stream_timeout: float) -> Flow[None]:
    """Find the sub-agent that tool call ``call_id`` of ``wait``'s session starts, then answer the
    ``permission`` events of its stream as ``wait``'s supervisor decides, until the stream ends."""
    child = yield from _find(wait.session_id, call_id)
    if child is None:
        log.warning("Mix sub-agent of tool call %s: no session found; its permission requests go unseen", call_id)
        return
    log.info("Mix sub-agent session %s (tool call %s): following its permission requests", child, call_id)
    try:
        yield OpenEvents(child, stream_timeout)
        while (event := (yield NextEvent())) is not None:
            if event.event == "permission" and (step := wait.supervise(event)) is not None:
                yield from act(wait, step)
    except (MixTransportError, TimeoutError) as exc:
        log.info("Mix sub-agent session %s: stream ended (%r)", child, exc)


def _find(parent: str, call_id: str) -> Flow[str | None]:
    """The id of the newest sub-agent session of ``parent`` for ``call_id``; None if none shows up in time."""
    give_up = time.monotonic() + FIND_FOR
    while True:
        try:
            listed: list[SessionData] = yield ops.list_sessions(include_subagents=True)
        except MixError as exc:
            log.warning("Mix sub-agent of tool call %s: listing failed (%s)", call_id, exc)
            listed = []
        if found := _newest_child(listed, parent, call_id):
            return found
        if time.monotonic() >= give_up:
            return None
        yield Sleep(FIND_EVERY)


def _newest_child(listed: list[SessionData], parent: str, call_id: str) -> str | None:
    children = [s for s in listed if s.parent_session_id == parent and s.parent_tool_call_id in (None, "", call_id)]
    newest = max(children, key=lambda s: s.created_at.timestamp() if s.created_at else 0.0, default=None)
    return newest.id if newest is not None else None
