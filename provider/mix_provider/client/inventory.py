"""Every session of a server, also where ``GET /api/sessions`` shows only the newest twenty.

The newer real server lists at most :data:`LIST_CAP` sessions, newest first, with all three message
counts 0 (``mix_agent/internal/db/sql/sessions.sql`` ``ListSessionsWithContent``, commit 8963d55c,
used by ``http/rest_sessions.go`` ``HandleListSessions``, which drops sub-agent sessions after the
limit); an older generation lists every session with real counts. Nothing else lists sessions, but
``GET /api/messages/history`` pages through the user messages of *every* session, newest first, with
no cap on the number of pages (``http/rest_messages.go`` ``HandleMessageHistory``, commit e2dc02ec;
``db/sql/messages.sql`` ``ListUserMessageHistory``, ``ORDER BY created_at DESC LIMIT ? OFFSET ?``);
``GET /api/sessions/{id}`` (``GetSessionByID``) still gives real counts. So a survey lists, detects
the cap, and then finds the other sessions through the history, plus any ids the caller knows (an
archive's manifest, the sessions the provider created: ``[mix] session_ledger``). The history holds
every session in which a run ever started, sub-agent sessions included: the ``task`` tool and a
``sub_agent`` callback create their session and run the agent on it, whose first act is to store the
prompt as a ``role: user`` message (``llm/agent/task-tool.go`` ``Run`` @ 61622ba4,
``llm/callbacks/executor.go`` ``executeSubAgent`` @ 2a6de68b, ``agent.go`` ``createUserMessage``).

What a survey still cannot see is said in two places. :attr:`Listing.unseen`: every session beyond the
newest twenty when the server has no history endpoint, so sessions holding transcripts may be missing
(the list is incomplete). :attr:`Listing.empty_unseen`: a session beyond the newest twenty that holds
no user message (created and never sent a message, or refused before its run began) is listed by
nothing on such a server unless its id is known. Such a session holds no transcript, only its
metadata (title, settings, callbacks), so its absence leaves the list *complete* (every session that
holds a message was found) but is still named, with the remedy, never passed over in silence.

:func:`survey` is a plan: a generator that yields the calls to make and receives their results (or
their errors), so the sync and async clients run the same logic (:meth:`MixClient.run
<mix_provider.client.MixClient.run>`).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client import operations as ops
from mix_provider.defaults import SESSION_LEDGER_OPTION, option_label
from mix_provider.errors import MixAPIError
from mix_provider.models import BackendMessage, SessionData

#: How many sessions the newer server's ``GET /api/sessions`` returns at most.
LIST_CAP = 20
#: Page size of ``GET /api/messages/history`` (the spec's maximum).
HISTORY_PAGE = 1000
#: Statuses meaning the server has no history endpoint (an older or a trimmed server).
_NO_ENDPOINT = frozenset({404, 405, 501})

Plan = Generator["ops.Call[Any]", Any, "Listing"]


@dataclass(frozen=True)
class Listing:
    """What a survey saw.

    :param listed: the list entries (``GET /api/sessions``).
    :param beyond: ids of sessions found beyond the list (history, known ids), not yet looked up:
        read them with ``GET /api/sessions/{id}``, which 404s for a deleted one.
    :param capped: the list stopped at :data:`LIST_CAP` entries without counts: the newer server.
    :param countless: the list entries carry no message counts, so they cannot tell a session changed.
    :param unseen: what could not be seen and the remedy; None when every session with a message was found.
    :param ledger: the ids of the session ledger were looked up beyond the list.
    """

    listed: list[SessionData]
    beyond: list[str] = field(default_factory=list)
    capped: bool = False
    countless: bool = False
    unseen: str | None = None
    ledger: bool = False

    @property
    def complete(self) -> bool:
        """Whether every session that holds a message was found."""
        return self.unseen is None

    @property
    def empty_unseen(self) -> str | None:
        """On a capped list, which sessions holding no message may exist unseen, and the remedy; None
        when the list shows every session."""
        return _empty_unseen(self.ledger) if self.capped else None

    def summary(self) -> dict[str, Any]:
        """Small JSON for a task's result."""
        return {
            "capped": self.capped,
            "beyond_list": len(self.beyond),
            "complete": self.complete,
            "unseen": self.unseen,
            "empty_unseen": self.empty_unseen,
        }


def has_no_counts(sessions: Iterable[SessionData]) -> bool:
    """Whether list entries report no message counts at all (the newer server's list does not count)."""
    listed = list(sessions)
    return bool(listed) and all(
        s.user_message_count == 0 and s.assistant_message_count == 0 and s.tool_call_count == 0 for s in listed
    )


def survey(
    include_subagents: bool = False, known: Iterable[str] = (), pages: int | None = None, *, ledger: bool = False
) -> Plan:
    """The plan of a survey: list, detect the cap, then page through the history.

    :param include_subagents: list sub-agent sessions too (those found through the history are
        returned either way: only a lookup tells what they are).
    :param known: ids the caller knows of, looked up beyond the list when the list is capped.
    :param pages: read only this many history pages, the newest (a watcher looking for recent
        activity); None reads them all.
    :param ledger: ``known`` includes the session ledger's ids (it changes what may be unseen).
    """
    listed: list[SessionData] = yield ops.list_sessions(include_subagents)
    raw = listed
    if not include_subagents and len(listed) < LIST_CAP:
        raw = yield ops.list_sessions(True)  # sub-agents are dropped after the limit: count them too
    countless = has_no_counts(raw)
    if len(raw) < LIST_CAP or not countless:
        return Listing(listed, countless=countless)
    seen = {s.id for s in raw}
    found, history = yield from _history(pages)
    beyond = [sid for sid in dict.fromkeys([*found, *known]) if sid not in seen]
    unseen = None if history else _no_history(len(beyond))
    return Listing(listed, beyond, capped=True, countless=True, unseen=unseen, ledger=ledger)


def _history(pages: int | None) -> Generator[ops.Call[Any], Any, tuple[list[str], bool]]:
    """Session ids of every user message (of the newest ``pages`` pages), newest first; whether the
    server has the endpoint."""
    found: dict[str, None] = {}
    offset = 0
    while pages is None or offset < pages * HISTORY_PAGE:
        try:
            page: list[BackendMessage] = yield ops.message_history(HISTORY_PAGE, offset)
        except MixAPIError as exc:
            if exc.status in _NO_ENDPOINT and offset == 0:
                return [], False
            raise
        found.update(dict.fromkeys(m.session_id for m in page if m.session_id))
        if len(page) < HISTORY_PAGE:
            break
        offset += len(page)
    return list(found), True


#: The session ledger's option as remedies name it (:mod:`mix_provider.hooks.ledger` reads it).
LEDGER_OPTION = option_label(SESSION_LEDGER_OPTION)


def _no_history(known: int) -> str:
    return (
        f"the server lists only its {LIST_CAP} newest sessions (GET /api/sessions) and has no "
        f"/api/messages/history to find the others; {known} more were found among the ids already known "
        f"(the archive's manifest, {LEDGER_OPTION}): older sessions may be missing. Record every session "
        f"created through the provider with {LEDGER_OPTION}, or pass their ids in session_ids"
    )


def _empty_unseen(ledger: bool) -> str:
    beyond = f"sessions older than the {LIST_CAP} newest that hold no user message (created, never sent one)"
    if ledger:
        return (
            f"{beyond} are found only through {LEDGER_OPTION}: one created outside the provider "
            "(the Mix UI, another client) may be missing. It holds no transcript, only its metadata"
        )
    return (
        f"{beyond} are listed by nothing on this server and may be missing. They hold no transcript, "
        f"only their metadata. Set {LEDGER_OPTION} so that every session created through the provider "
        "is recorded and found"
    )
