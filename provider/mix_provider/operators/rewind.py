"""MixRewindSessionOperator: cut a session back to a message, to the first N messages, or by whole turns.

The server keeps the messages *listed* up to the one rewound to and lists one second's messages in no
defined order, so a cut by count or by turn is made only where it is exact (:mod:`mix_provider.client.rewind`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from mix_provider.client.rewind import turn_cut
from mix_provider.client.runs import Runs
from mix_provider.client.turns import TurnKey
from mix_provider.client.validation import optional_int, require_bool, require_id
from mix_provider.errors import MixConfigError, MixRewindAmbiguousError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import ExportMessage
from mix_provider.operators._renamed import renamed
from mix_provider.operators.base import MixBaseOperator
from mix_provider.templating import check_literal

_TARGETS = ("message_id", "keep_messages", "drop_last_turns", "drop_turn")


def message_to_keep(
    session_id: str,
    messages: Sequence[ExportMessage],
    *,
    keep: int | None,
    drop_turns: int | None,
    turn: TurnKey | None = None,
) -> str:
    """The id of the last message to keep, for "keep the first N messages" or "drop the last K turns".

    A turn starts at a user message the client sent (not one a ``send_message`` callback injected, as
    ``turn`` knows) and runs to the next one. A cut inside a second the server lists in no defined
    order is refused (:class:`~mix_provider.errors.MixRewindAmbiguousError`).
    """
    if keep is not None:
        if keep > len(messages):
            raise MixConfigError("keep_messages", f"is {keep} but the session has {len(messages)} messages")
        stamp = messages[keep].created_at if keep < len(messages) else None
        if stamp is not None and stamp == messages[keep - 1].created_at:
            raise MixRewindAmbiguousError(
                session_id, messages[keep].id, f"it shares its second with message {keep} (keep_messages={keep})"
            )
        return messages[keep - 1].id
    turn = turn or TurnKey.of_callbacks(None)
    runs = Runs(turn.injected, turn.callbacks)
    starts = [m.id for m in messages if runs.starts_run(m)]
    turns = drop_turns or 1
    target = turn_cut(session_id, messages, starts[-turns], turn) if turns < len(starts) else None
    if target is None:
        raise MixConfigError(
            "drop_last_turns", f"is {turns} but the session has {len(starts)} turns; at least one must remain"
        )
    return target


def rewind_target(hook: MixHook, session_id: str, turn: Mapping[str, Any]) -> str | None:
    """The message to rewind to so that exactly the turn a send returned (``turn``: the result of
    :class:`~mix_provider.operators.message.MixSendMessageOperator`) and what followed it are dropped;
    None when that turn opened the session. Reads the transcript and the session's callbacks.

    :raises MixConfigError: ``turn`` is not a turn's result of this session.
    :raises MixRewindAmbiguousError: no cut drops exactly that.
    """
    first = turn.get("user_message_id")
    if turn.get("session_id") != session_id or not isinstance(first, str) or not first:
        raise MixConfigError(
            "drop_turn", f"must be the result of a turn sent to session {session_id} (with its user_message_id)"
        )
    messages = hook.export_session(session_id).messages
    key = TurnKey.of_callbacks(hook.get_session(session_id).callbacks)
    reply = turn.get("message_id")
    stored = turn.get("stored_before") or ()
    return turn_cut(
        session_id, messages, first, key, reply_id=reply if isinstance(reply, str) else None, stored_before=stored
    )


class MixRewindSessionOperator(MixBaseOperator):
    """Rewind a session; give exactly one of ``message_id``, ``keep_messages``, ``drop_last_turns`` or
    ``drop_turn``.

    ``drop_turn`` takes what a send task returned (``send.output``): the wait that sent it read the
    session just before sending, so the rewind drops exactly that turn and what followed it whenever
    the server's listed order allows such a cut. ``drop_last_turns`` reads the transcript alone and is
    refused when a dropped turn shares its first second with the turn before it. ``cleanupMedia`` is
    always sent explicitly (the server treats an omitted field as false, the spec says true). Returns
    the session summary and the id rewound to.

    :param session_id: the session (templated).
    :param message_id: the last message to keep (templated).
    :param keep_messages: keep the first N messages (N >= 1).
    :param drop_last_turns: drop the last K turns (user message plus the replies to it; K >= 1).
    :param drop_turn: drop this turn and everything after it: the result of a
        :class:`~mix_provider.operators.message.MixSendMessageOperator` (templated, e.g. ``send.output``).
    :param cleanup_media: also delete media files created after the kept message.
    :raises MixRewindAmbiguousError: no cut drops exactly the turns asked for (nothing is rewound).
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "message_id", "drop_turn")

    def __init__(
        self,
        *,
        session_id: str,
        message_id: str | None = None,
        keep_messages: int | None = None,
        drop_last_turns: int | None = None,
        drop_turn: Mapping[str, Any] | str | None = None,
        cleanup_media: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = (message_id, keep_messages, drop_last_turns, drop_turn)
        chosen = [name for name, value in zip(_TARGETS, given, strict=True) if value is not None]
        if len(chosen) != 1:
            raise MixConfigError("message_id", f"give exactly one of {', '.join(_TARGETS)}; got {chosen or 'none'}")
        self.session_id = session_id
        self.message_id = message_id
        self.keep_messages = optional_int("keep_messages", keep_messages, minimum=1)
        self.drop_last_turns = optional_int("drop_last_turns", drop_last_turns, minimum=1)
        self.drop_turn = drop_turn
        self.cleanup_media = require_bool("cleanup_media", cleanup_media)
        check_literal(partial(require_id, "session_id"), session_id)
        if message_id is not None:
            check_literal(partial(require_id, "message_id"), message_id)

    def execute(self, context: Any) -> dict[str, Any]:
        """Resolve the target message if needed, then rewind."""
        session_id = require_id("session_id", self.session_id)
        target = self.message_id
        if self.drop_turn is not None:
            if not isinstance(self.drop_turn, Mapping):
                raise MixConfigError(
                    "drop_turn", f"must be a turn's result (a mapping), got {type(self.drop_turn).__name__}"
                )
            target = rewind_target(self.hook, session_id, self.drop_turn)
            if target is None:
                raise MixConfigError(
                    "drop_turn", "is the turn that opened the session; at least one message must remain"
                )
        elif target is None:
            messages = self.hook.export_session(session_id).messages
            turn = TurnKey.of_callbacks(self.hook.get_session(session_id).callbacks) if self.drop_last_turns else None
            target = message_to_keep(
                session_id, messages, keep=self.keep_messages, drop_turns=self.drop_last_turns, turn=turn
            )
        session = self.hook.rewind_session(
            session_id, require_id("message_id", target), cleanup_media=self.cleanup_media
        )
        self.log.info("Rewound Mix session %s to message %s", session_id, target)
        return {**session.summary(), "rewound_to": target}


__getattr__ = renamed(__name__, MixRewindSessionOperator)
