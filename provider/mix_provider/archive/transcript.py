"""Incremental parsing of an ExportSession document: raw bytes in, header fields and messages out.

Nothing here does I/O. :class:`TranscriptParser` is fed the body chunk by chunk (ijson's push
parser, on the yajl2_c backend when installed) and keeps only the value being built, so memory is
bounded by the largest single message, never by the transcript. :class:`JsonlEncoder` turns the
same stream into JSON Lines: the session header (every top-level field but ``messages``), then one
line per message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ijson
from pydantic_core import to_json

from mix_provider.errors import TranscriptSyntaxError

__all__ = ["JsonlEncoder", "TranscriptParser", "TranscriptSyntaxError", "json_line"]

#: The per-message token counts of the spec's messages (absent from the real server's export).
USAGE_FIELDS = ("inputTokens", "outputTokens")
_OPEN = frozenset({"start_map", "start_array"})
#: The top-level (event, key) pairs of a message a counting parse keeps.
_KEPT = frozenset({("string", "role"), ("string", "model"), *(("number", name) for name in USAGE_FIELDS)})
_CLOSE = frozenset({"end_map", "end_array"})
_MESSAGES = "messages"


class _Discard:
    """A stand-in for :class:`ijson.ObjectBuilder` that only follows the events (counting mode),
    keeping a message's top-level ``role``, ``model`` and per-message token counts (for the archive
    manifest)."""

    def __init__(self) -> None:
        self.value: dict[str, Any] = {}
        self._depth = 0
        self._key = ""

    def event(self, event: str, value: Any) -> None:
        """Follow the event; keep top-level ``role`` / ``model`` strings."""
        self._depth += (event in _OPEN) - (event in _CLOSE)
        if self._depth == 1 and event == "map_key":
            self._key = value
        elif self._depth == 1 and (event, self._key) in _KEPT:
            self.value[self._key] = value


class TranscriptParser:
    """Push parser of one ExportSession document.

    :param keep_messages: build each message and return it from :meth:`feed` (JSON Lines);
        otherwise messages are only counted.
    """

    def __init__(self, *, keep_messages: bool) -> None:
        self.header: dict[str, Any] = {}
        self.messages = 0
        #: Assistant messages by ``model`` (what the manifest records as the session's models).
        self.models: dict[str, int] = {}
        #: Per-message tokens summed over the assistant messages, and how many of them lacked them.
        self.token_sums = [0, 0]
        self.without_tokens = 0
        self.complete = False
        self.fields_after_messages = False
        self._keep = keep_messages
        self._events = ijson.sendable_list()
        self._coro = ijson.basic_parse_coro(self._events, use_float=True)
        self._depth = 0
        self._key = ""
        self._messages_seen = False
        self._value: ijson.ObjectBuilder | _Discard | None = None
        self._value_is_message = False
        self._base = 0

    def feed(self, chunk: bytes) -> list[Any]:
        """Parse the next chunk; return the messages it completed (always empty when counting)."""
        try:
            self._coro.send(chunk)
        except ijson.JSONError as exc:
            raise TranscriptSyntaxError(f"invalid JSON: {exc}") from None
        done: list[Any] = []
        for event, value in self._events:
            self._on_event(event, value, done)
        del self._events[:]
        return done

    def close(self) -> None:
        """Check that the document ended where it should.

        :raises TranscriptSyntaxError: when the body stops early or is not an object.
        """
        try:
            self._coro.close()
        except ijson.JSONError as exc:
            raise TranscriptSyntaxError(f"the body ends early: {exc}") from None
        if not self.complete:
            raise TranscriptSyntaxError("the body ends before the transcript object closes")

    def _on_event(self, event: str, value: Any, done: list[Any]) -> None:
        level = self._depth
        self._depth += (event in _OPEN) - (event in _CLOSE)
        if self._value is not None:
            self._value.event(event, value)
            if self._depth == self._base:
                self._finish_value(done)
        elif level == 0:
            if event != "start_map":
                raise TranscriptSyntaxError(f"expected a JSON object, got {event}")
        elif level == 1:
            self._on_field(event, value)
        else:
            self._on_message(event, value, done)

    def _on_field(self, event: str, value: Any) -> None:
        if event == "map_key":
            self._key = value
            self.fields_after_messages |= self._messages_seen and value != _MESSAGES
        elif event == "end_map":
            self.complete = True
        elif self._key != _MESSAGES:
            self._start_value(event, value, is_message=False)
        elif event == "start_array":
            self._messages_seen = True
        elif event != "null":
            raise TranscriptSyntaxError(f"'messages' must be an array, got {event}")

    def _on_message(self, event: str, value: Any, done: list[Any]) -> None:
        if event == "end_array":
            return
        if event in _OPEN:
            self._start_value(event, value, is_message=True)
        else:
            self._count(value, done)

    def _start_value(self, event: str, value: Any, *, is_message: bool) -> None:
        if event not in _OPEN:
            self.header[self._key] = value
            return
        self._value_is_message = is_message
        self._base = self._depth - 1
        self._value = ijson.ObjectBuilder() if self._keep or not is_message else _Discard()
        self._value.event(event, value)

    def _count(self, value: Any, done: list[Any]) -> None:
        self.messages += 1
        if isinstance(value, dict) and value.get("role") == "assistant":
            self._count_assistant(value)
        if self._keep:
            done.append(value)

    def _count_assistant(self, value: dict[str, Any]) -> None:
        if isinstance(value.get("model"), str):
            self.models[value["model"]] = self.models.get(value["model"], 0) + 1
        prompt, completion = (value.get(name) for name in USAGE_FIELDS)
        if isinstance(prompt, int) and isinstance(completion, int):
            self.token_sums = [self.token_sums[0] + prompt, self.token_sums[1] + completion]
        else:
            self.without_tokens += 1

    def tokens(self) -> tuple[int, int] | None:
        """The transcript's tokens from per-message usage: None unless every assistant message has it
        (the session's own token fields are its last LLM call's, not totals)."""
        return None if self.without_tokens else (self.token_sums[0], self.token_sums[1])

    def _finish_value(self, done: list[Any]) -> None:
        built, self._value = self._value, None
        assert built is not None
        if not self._value_is_message:
            self.header[self._key] = built.value
            return
        self._count(built.value, done)


def json_line(value: Any) -> bytes:
    """One JSON Lines record: compact JSON, UTF-8, ending in ``\\n`` (split records on ``\\n`` only).

    Encoded by pydantic-core (already a dependency), several times faster than ``json.dumps``;
    numbers are written in their shortest form (``1e-6``, not ``1e-06``).
    """
    return to_json(value) + b"\n"


class JsonlEncoder:
    """ExportSession bytes in, JSON Lines bytes out (through ``write``).

    The header line is written just before the first message, holding the fields seen so far; when
    the server sends more top-level fields after a non-empty ``messages`` array, :meth:`close`
    says so and the caller rewrites the first line (see :func:`~mix_provider.archive.export`).

    :param write: where the JSON Lines bytes go.
    """

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self.parser = TranscriptParser(keep_messages=True)
        self._write = write
        self._header_written = False

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk and write the lines it completed."""
        messages = self.parser.feed(chunk)
        if messages:
            if not self._header_written:
                self._write_header()
            self._write(b"".join(json_line(message) for message in messages))

    def close(self) -> bool:
        """Finish the document; return True when the header line already written lacks late fields."""
        self.parser.close()
        if not self._header_written:
            self._write_header()
            return False
        return self.parser.fields_after_messages

    def _write_header(self) -> None:
        self._write(json_line(self.parser.header))
        self._header_written = True
