"""MixRewindSessionOperator: cut a session back to a message, to the first N messages, or by whole turns."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from mix_provider.client.validation import optional_int, require_bool, require_id
from mix_provider.errors import MixConfigError
from mix_provider.models import ExportMessage
from mix_provider.operators._renamed import renamed
from mix_provider.operators.base import MixBaseOperator
from mix_provider.templating import check_literal

_TARGETS = ("message_id", "keep_messages", "drop_last_turns")


def message_to_keep(messages: Sequence[ExportMessage], *, keep: int | None, drop_turns: int | None) -> str:
    """The id of the last message to keep, for "keep the first N messages" or "drop the last K turns".

    A turn starts at a user message and runs to the next one.
    """
    if keep is not None:
        if keep > len(messages):
            raise MixConfigError("keep_messages", f"is {keep} but the session has {len(messages)} messages")
        return messages[keep - 1].id
    starts = [i for i, m in enumerate(messages) if m.role == "user"]
    turns = drop_turns or 1
    if turns >= len(starts) or starts[-turns] == 0:
        raise MixConfigError(
            "drop_last_turns", f"is {turns} but the session has {len(starts)} turns; at least one must remain"
        )
    return messages[starts[-turns] - 1].id


class MixRewindSessionOperator(MixBaseOperator):
    """Rewind a session; give exactly one of ``message_id``, ``keep_messages`` or ``drop_last_turns``.

    ``cleanupMedia`` is always sent explicitly (the server treats an omitted field as false, the
    spec says true). Returns the session summary and the id rewound to.

    :param session_id: the session (templated).
    :param message_id: the last message to keep (templated).
    :param keep_messages: keep the first N messages (N >= 1).
    :param drop_last_turns: drop the last K turns (user message plus the replies to it; K >= 1).
    :param cleanup_media: also delete media files created after the kept message.
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "message_id")

    def __init__(
        self,
        *,
        session_id: str,
        message_id: str | None = None,
        keep_messages: int | None = None,
        drop_last_turns: int | None = None,
        cleanup_media: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        chosen = [
            name
            for name, value in zip(_TARGETS, (message_id, keep_messages, drop_last_turns), strict=True)
            if value is not None
        ]
        if len(chosen) != 1:
            raise MixConfigError("message_id", f"give exactly one of {', '.join(_TARGETS)}; got {chosen or 'none'}")
        self.session_id = session_id
        self.message_id = message_id
        self.keep_messages = optional_int("keep_messages", keep_messages, minimum=1)
        self.drop_last_turns = optional_int("drop_last_turns", drop_last_turns, minimum=1)
        self.cleanup_media = require_bool("cleanup_media", cleanup_media)
        check_literal(partial(require_id, "session_id"), session_id)
        if message_id is not None:
            check_literal(partial(require_id, "message_id"), message_id)

    def execute(self, context: Any) -> dict[str, Any]:
        """Resolve the target message if needed, then rewind."""
        session_id = require_id("session_id", self.session_id)
        target = self.message_id
        if target is None:
            messages = self.hook.export_session(session_id).messages
            target = message_to_keep(messages, keep=self.keep_messages, drop_turns=self.drop_last_turns)
        session = self.hook.rewind_session(
            session_id, require_id("message_id", target), cleanup_media=self.cleanup_media
        )
        self.log.info("Rewound Mix session %s to message %s", session_id, target)
        return {**session.summary(), "rewound_to": target}


__getattr__ = renamed(__name__, MixRewindSessionOperator)
