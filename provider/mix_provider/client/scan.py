"""Reply detection from the streamed export: one light record per message, built as the body arrives.

The transcript is never held whole nor parsed into models: ijson's push parser hands over one message
at a time, and :class:`TranscriptScan` keeps a :class:`~mix_provider.models.MessageRecord` of it (id,
role, finish reason, tool call count, times) with text only where the turn logic reads it: the first
``text_length`` characters of a user message (our message's fingerprint, :meth:`TurnKey.matches
<mix_provider.client.turns.TurnKey.matches>`), the whole text of a user message a ``send_message``
callback injected (recognised by its digest), and the content of assistant messages stored after our
user message, or after one that may be ours because it shares its second with the first user
message after the baseline (:func:`~mix_provider.client.turns.after_baseline`). The session's totals at the top level are kept too, so a
finished wait needs no other call for its usage. Memory is bounded by the largest message plus the records.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Collection, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import ijson
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from mix_provider.client.operations import Call
from mix_provider.client.turns import TurnKey, digest
from mix_provider.client.usage import TurnTokens, message_tokens
from mix_provider.errors import MixMalformedResponseError
from mix_provider.models import MessageRecord, SessionTotals

#: The wire fields a record is validated from (content and tool calls are handled apart).
_FIELDS = ("id", "role", "createdAt", "updatedAt", "finishReason")
#: The session totals of the export's top level, all of which must be there to be used.
_TOTALS = frozenset(to_camel(name) for name in SessionTotals.model_fields)
_SCALARS = frozenset({"number", "integer", "double"})
_ITEM = "messages.item"


@dataclass(frozen=True)
class ScannedTranscript:
    """What a scan keeps of an export: a record per message and the session's totals.

    :param messages: the records, in stored order.
    :param totals: the session's counts, tokens and cost, read with the messages (None when the
        export did not carry them all).
    """

    messages: list[MessageRecord]
    totals: SessionTotals | None = None


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
        self._maybe: object = None
        self._second: object = None
        self._provisional: list[int] = []
        self._totals: dict[str, Any] = {}
        self._message: ijson.ObjectBuilder | None = None
        self._events = ijson.sendable_list()
        self._coro = ijson.parse_coro(self._events, use_float=True)

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        try:
            self._coro.send(chunk)
        except ijson.JSONError as exc:
            raise self._malformed(f"invalid JSON: {exc}") from None
        self._take()

    def close(self) -> ScannedTranscript:
        """Check that the body ended where it should; the records and the totals.

        :raises MixMalformedResponseError: the body stopped early or a message is not one (retryable).
        """
        try:
            self._coro.close()
        except ijson.JSONError as exc:
            raise self._malformed(f"the body ends early: {exc}") from None
        self._take()
        self._next_second(None)
        totals = SessionTotals.model_validate(self._totals) if self._totals.keys() >= _TOTALS else None
        return ScannedTranscript(self.records, totals)

    def _take(self) -> None:
        for prefix, event, value in self._events:
            if self._message is not None:
                self._message.event(event, value)
                if prefix == _ITEM and event == "end_map":
                    self.records.append(self._record(self._message.value))
                    self._message = None
            elif prefix == _ITEM:
                if event != "start_map":
                    raise self._malformed(f"messages.{len(self.records)}: not an object")
                self._message = ijson.ObjectBuilder()
                self._message.event(event, value)
            elif prefix in _TOTALS and event in _SCALARS:
                self._totals[prefix] = value
        del self._events[:]

    def _record(self, item: dict[str, Any]) -> MessageRecord:
        wire = {name: item[name] for name in _FIELDS if name in item}
        calls = item.get("toolCalls")
        wire["toolCallCount"] = len(calls) if isinstance(calls, list) else 0
        stamp = item.get("createdAt")
        self._next_second(stamp)
        wire["content"] = self._kept(item.get("role"), item.get("content", ""), stamp)
        try:
            return MessageRecord.model_validate(wire)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise self._malformed(f"messages.{len(self.records)}.{where}: {first['msg']}") from None

    def _kept(self, role: Any, content: Any, stamp: Any) -> Any:
        """The part of ``content`` the turn logic will read (non-text is left to validation)."""
        key = self._key
        if key is None or not isinstance(content, str):
            return "" if key is None else content
        if role == "user":
            return self._user_text(key, content, stamp)
        return self._assistant_text(key, content, stamp) if role == "assistant" else ""

    def _assistant_text(self, key: TurnKey, content: str, stamp: Any) -> str:
        if self._ours or self._maybe is not None:
            return content
        if stamp is None or self._users + 1 < key.after_user_messages:
            return ""
        self._provisional.append(len(self.records))  # our message may come later in this second
        return content

    def _next_second(self, stamp: Any) -> None:
        """When a new second starts, drop the text kept for one that held no message of ours."""
        if stamp is not None and stamp == self._second:
            return
        if not (self._ours or self._maybe is not None):
            for index in self._provisional:
                self.records[index] = self.records[index].model_copy(update={"content": ""})
        self._provisional = []
        self._second = stamp

    def _user_text(self, key: TurnKey, content: str, stamp: Any) -> str:
        index, self._users = self._users, self._users + 1
        if key.injected and digest(content) in key.injected:
            return content
        head = content[: key.text_length] if key.text_length is not None else ""
        if key.matches(head):
            if index >= key.after_user_messages:
                self._ours = True
            elif stamp is not None and key.text_length is not None:
                # without a fingerprint the first user message after the baseline is ours: find_turn
                # never looks before it, so no earlier message's run needs its text kept
                self._maybe = stamp
        elif self._maybe is not None and index <= key.after_user_messages and stamp != self._maybe:
            self._maybe = None  # a later second came before the baseline's end: that match was not ours
        return head

    def _malformed(self, reason: str) -> MixMalformedResponseError:
        return MixMalformedResponseError(self._call.method, self._call.path, HTTPStatus.OK, reason)


def scan_chunks(call: Call[Any], chunks: Iterable[bytes], key: TurnKey | None = None) -> ScannedTranscript:
    """Scan a whole export body read from ``chunks`` (see :class:`TranscriptScan`)."""
    scan = TranscriptScan(call, key)
    for chunk in chunks:
        scan.feed(chunk)
    return scan.close()


async def ascan_chunks(call: Call[Any], chunks: AsyncIterable[bytes], key: TurnKey | None = None) -> ScannedTranscript:
    """Async :func:`scan_chunks`."""
    scan = TranscriptScan(call, key)
    async for chunk in chunks:
        scan.feed(chunk)
    return scan.close()


class UsageScan:
    """Push parser of a ``GET /api/sessions/{id}/messages`` body keeping, for the messages ``ids``
    only, their per-message ``(inputTokens, outputTokens)``: one message is held at a time.

    :param call: the call (named in the error of a malformed body).
    :param ids: the messages whose usage is wanted.
    """

    def __init__(self, call: Call[Any], ids: Collection[str]) -> None:
        self.found: dict[str, tuple[Any, Any]] = {}
        #: Whether the body's assistant messages carry ``inputTokens`` at all (None: it held none).
        self.carried: bool | None = None
        self._call = call
        self._ids = frozenset(ids)
        self._items = ijson.sendable_list()
        self._coro = ijson.items_coro(self._items, "item", use_float=True)

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        try:
            self._coro.send(chunk)
        except ijson.JSONError as exc:
            raise MixMalformedResponseError(self._call.method, self._call.path, HTTPStatus.OK, str(exc)) from None
        for item in self._items:
            if not isinstance(item, dict):
                continue
            if item.get("role") == "assistant":
                self.carried = bool(self.carried) or "inputTokens" in item
            if item.get("id") in self._ids:
                self.found[item["id"]] = (item.get("inputTokens"), item.get("outputTokens"))
        del self._items[:]

    def close(self) -> TurnTokens | None:
        """The tokens of the wanted messages (:func:`~mix_provider.client.usage.message_tokens`)."""
        try:
            self._coro.close()
        except ijson.JSONError as exc:
            raise MixMalformedResponseError(self._call.method, self._call.path, HTTPStatus.OK, str(exc)) from None
        return message_tokens(self.found, self._ids)


def scan_usage(call: Call[Any], chunks: Iterable[bytes], ids: Collection[str]) -> TurnTokens | None:
    """The tokens of messages ``ids`` from a whole ``/messages`` body read from ``chunks``."""
    scan = UsageScan(call, ids)
    for chunk in chunks:
        scan.feed(chunk)
    return scan.close()


async def ascan_usage(
    call: Call[Any], chunks: AsyncIterable[bytes], ids: Collection[str]
) -> tuple[TurnTokens | None, bool | None]:
    """Async :func:`scan_usage`, and whether the body carried per-message usage (:attr:`UsageScan.carried`)."""
    scan = UsageScan(call, ids)
    async for chunk in chunks:
        scan.feed(chunk)
    return scan.close(), scan.carried
