"""Where to rewind a session so that it drops whole turns and nothing else, when ties allow it.

A rewind keeps a *listed* prefix: ``http/rest_sessions.go`` ``HandleRewindSession`` (recreate-run/mix
``mix_agent/internal/``, commit 95264f66) finds the message's index in ``Messages.List``, and
``message/message.go`` ``DeleteAfterIndex`` (commit 11ca6aa9) lists the session again and deletes every
message listed after that index. The list is ``ORDER BY created_at`` in whole seconds with no
tie-break (``db/sql/messages.sql`` ``ListMessagesBySession``), so when a turn shares a second with the
turn before it, one of its replies can be listed before its user message, or the turn before's reply
after it: no rewind then drops exactly the turn.

A cut is therefore computed as the set of messages to keep, and made only when that set is a listed
prefix (:func:`listed_cut`); otherwise :class:`~mix_provider.errors.MixRewindAmbiguousError` is raised
rather than cut into another turn. What to keep comes from what a wait read just before sending
(:func:`kept_before_send`, exact), or from the transcript alone (:func:`kept_before_turn`, over every
causal order of the turn's first second); :func:`turn_cut` picks the one it can.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from mix_provider.client.runs import Runs, TurnMessage
from mix_provider.client.ties import readings
from mix_provider.errors import MixRewindAmbiguousError

if TYPE_CHECKING:
    from mix_provider.client.turns import TurnKey


def turn_cut(
    session_id: str,
    messages: Sequence[TurnMessage],
    user_message_id: str,
    session: TurnKey,
    *,
    reply_id: str | None = None,
    stored_before: Collection[str] = (),
) -> str | None:
    """The message to rewind to so that the turn started by ``user_message_id`` and everything after it
    are dropped and nothing else; None when that turn opened the session.

    :param session: a key that knows the session's callbacks (:meth:`TurnKey.of_callbacks`).
    :param reply_id: the turn's final reply, when a wait found it.
    :param stored_before: the messages of the last second a wait read before sending the turn
        (:class:`~mix_provider.client.turns.TurnPins` ``stored``): exact where the listing allows a cut.
    :raises MixRewindAmbiguousError: no cut drops exactly that.
    """
    if stored_before:
        kept = kept_before_send(session_id, messages, stored_before, user_message_id)
    else:
        kept = kept_before_turn(
            session_id,
            messages,
            user_message_id,
            reply_id=reply_id,
            injected=session.injected,
            callbacks=session.callbacks,
        )
    return listed_cut(session_id, messages, kept, user_message_id)


def listed_cut(
    session_id: str, messages: Sequence[TurnMessage], keep: Collection[str], first_dropped: str
) -> str | None:
    """The message to rewind to so that exactly ``keep`` remains; None when nothing is to be kept (a
    rewind cannot empty a session).

    :raises MixRewindAmbiguousError: ``keep`` is not what the server lists first.
    """
    ids = [m.id for m in messages]
    if not keep:
        return None
    if set(ids[: len(keep)]) != set(keep):
        raise MixRewindAmbiguousError(
            session_id, first_dropped, "the second it starts in is listed interleaved with the messages before it"
        )
    return ids[len(keep) - 1]


def kept_before_send(
    session_id: str, messages: Sequence[TurnMessage], stored: Collection[str], first_dropped: str
) -> set[str]:
    """What was stored before a turn was sent: every message of an earlier second than the last one a
    wait read before sending, and the messages of that second it read (``stored``,
    :class:`~mix_provider.client.turns.TurnPins`).

    :raises MixRewindAmbiguousError: a message read then is gone (the session changed since).
    """
    stamps = {m.id: m.created_at for m in messages}
    seconds = {stamps.get(mid) for mid in stored}
    last = next(iter(seconds)) if len(seconds) == 1 else None
    if last is None or not set(stored) <= stamps.keys():
        raise MixRewindAmbiguousError(session_id, first_dropped, "the messages read before it was sent have changed")
    return {m.id for m in messages if m.created_at is not None and m.created_at < last} | set(stored)


def kept_before_turn(
    session_id: str,
    messages: Sequence[TurnMessage],
    first_dropped: str,
    *,
    reply_id: str | None = None,
    injected: frozenset[str] = frozenset(),
    callbacks: bool = False,
) -> set[str]:
    """What was stored before the turn started by ``first_dropped`` (a user message the client sent),
    from the transcript alone: every message of an earlier second, and those of its first second that
    are not the turn's in any causal reading of that second (they must agree).

    :param reply_id: the turn's final reply, when known: readings that end the turn elsewhere are not
        the turn that happened.
    :param injected: digests of the texts the session's ``send_message`` callbacks inject.
    :param callbacks: the session has callbacks (a tool message may be a callback's result).
    :raises MixRewindAmbiguousError: the readings disagree, or another turn starts in that second
        (which of the two came first is unknown).
    """
    ids = [m.id for m in messages]
    if first_dropped not in ids:
        raise MixRewindAmbiguousError(session_id, first_dropped, "the message is not in the session")
    first = messages[ids.index(first_dropped)]
    if first.created_at is None:  # no time: it stands alone (as in :func:`~mix_provider.client.runs.same_second`)
        return set(ids[: ids.index(first_dropped)])
    earlier = {m.id for m in messages if m.created_at is not None and m.created_at < first.created_at}
    second = {m.id for m in messages if m.created_at == first.created_at} - {first_dropped}
    starts = Runs(injected, callbacks)
    if any(m.id in second and starts.starts_run(m) for m in messages):
        raise MixRewindAmbiguousError(session_id, first_dropped, "another turn starts in the same second")
    found = readings(messages, first_dropped, injected=injected, callbacks=callbacks)
    if not found:
        reason = "its second holds too many interleaved runs" if found is None else "it starts no turn"
        raise MixRewindAmbiguousError(session_id, first_dropped, reason)
    pinned = [run for run in found if reply_id is None or (run.messages and run.messages[-1].id == reply_id)]
    before = {frozenset(second - {m.id for m in run.messages}) for run in pinned or found}
    if len(before) > 1:
        raise MixRewindAmbiguousError(
            session_id, first_dropped, "its first second holds messages that may be the turn's or the one before"
        )
    return earlier | set(before.pop())
