"""Reply detection from the streamed export: one light record per message, built as the body arrives.

The transcript is never held whole nor parsed into models: ijson's push parser hands over one message
at a time, and :class:`TranscriptScan` keeps a :class:`~mix_provider.models.MessageRecord` of it (id,
role, finish reason, tool call count, times) with text only where the turn logic reads it: the first
``text_length`` characters of a user message (our message's fingerprint, :meth:`TurnKey.matches
<mix_provider.client.turns.TurnKey.matches>`) and the content of assistant messages stored after our
user message (the reply candidates). Memory is bounded by the largest message plus the records.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from http import HTTPStatus
from typing import Any

import ijson
from pydantic import ValidationError

from mix_provider.client.operations import Call
from mix_provider.client.turns import TurnKey
from mix_provider.errors import MixMalformedResponseError
from mix_provider.models import MessageRecord

#: The wire fields a record is validated from (content and tool calls are handled apart).
_FIELDS = ("id", "role", "createdAt", "updatedAt", "finishReason")


class TranscriptScan:
    """Push parser of one export body into message records.

    :param call: the export call (named in the error of a malformed body).
    :param key: our message's key; None keeps no text at all (idle and finished-run verdicts).
    """

    def __init__(self, call: Call[Any], key: TurnKey | None = None) -> None:
        self.records: list[MessageRecord] = []
        self._call = call
        self._key = key
        self._users = 0
        self._ours = False
        self._items = ijson.sendable_list()
        self._coro = ijson.items_coro(self._items, "messages.item", use_float=True)

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        try:
            self._coro.send(chunk)
        except ijson.JSONError as exc:
            raise self._malformed(f"invalid JSON: {exc}") from None
        self._take()

    def close(self) -> list[MessageRecord]:
        """Check that the body ended where it should; the records, in stored order.

        :raises MixMalformedResponseError: the body stopped early or a message is not one (retryable).
        """
        try:
            self._coro.close()
        except ijson.JSONError as exc:
            raise self._malformed(f"the body ends early: {exc}") from None
        self._take()
        return self.records

    def _take(self) -> None:
        for item in self._items:
            self.records.append(self._record(item))
        del self._items[:]

    def _record(self, item: Any) -> MessageRecord:
        if not isinstance(item, dict):
            raise self._malformed(f"messages.{len(self.records)}: not an object")
        wire = {name: item[name] for name in _FIELDS if name in item}
        calls = item.get("toolCalls")
        wire["toolCallCount"] = len(calls) if isinstance(calls, list) else 0
        wire["content"] = self._kept(item.get("role"), item.get("content", ""))
        try:
            return MessageRecord.model_validate(wire)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise self._malformed(f"messages.{len(self.records)}.{where}: {first['msg']}") from None

    def _kept(self, role: Any, content: Any) -> Any:
        """The part of ``content`` the turn logic will read (non-text is left to validation)."""
        key = self._key
        if key is None or not isinstance(content, str):
            return "" if key is None else content
        if role == "user":
            index, self._users = self._users, self._users + 1
            head = content[: key.text_length] if key.text_length is not None else ""
            self._ours = self._ours or (index >= key.after_user_messages and key.matches(head))
            return head
        return content if role == "assistant" and self._ours else ""

    def _malformed(self, reason: str) -> MixMalformedResponseError:
        return MixMalformedResponseError(self._call.method, self._call.path, HTTPStatus.OK, reason)


def scan_chunks(call: Call[Any], chunks: Iterable[bytes], key: TurnKey | None = None) -> list[MessageRecord]:
    """Scan a whole export body read from ``chunks`` (see :class:`TranscriptScan`)."""
    scan = TranscriptScan(call, key)
    for chunk in chunks:
        scan.feed(chunk)
    return scan.close()


async def ascan_chunks(
    call: Call[Any], chunks: AsyncIterable[bytes], key: TurnKey | None = None
) -> list[MessageRecord]:
    """Async :func:`scan_chunks`."""
    scan = TranscriptScan(call, key)
    async for chunk in chunks:
        scan.feed(chunk)
    return scan.close()
