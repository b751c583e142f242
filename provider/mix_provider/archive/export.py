"""Export one transcript: stream ``GET /api/sessions/{id}/export`` into a file, atomically.

:func:`export_transcript` drives a :class:`TranscriptWriter` (bytes in, one committed file or
nothing out) through the hook's ``consume_export``, which restarts the whole transfer on a
transient failure, even mid-body. :func:`read_summary` parses the stream without writing anything.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from mix_provider.archive.storage import AtomicFile, HashedOutput, WriteTracker
from mix_provider.archive.transcript import JsonlEncoder, TranscriptParser, json_line
from mix_provider.client import operations as ops
from mix_provider.client.files import ReferenceScanner
from mix_provider.errors import ArchiveCancelledError, MixConfigError, MixMalformedResponseError, TranscriptSyntaxError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

T = TypeVar("T")

FORMATS = ("json", "jsonl")
COMPRESSIONS = (None, "gzip")
_COPY_BUFFER = 1 << 20


class TranscriptSource(Protocol):
    """What an archive reads transcripts through (a :class:`~mix_provider.hooks.mix.MixHook`)."""

    def consume_export(self, session_id: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Hand the export's bytes to ``consume``; a transient failure, even mid-body, starts it again."""
        ...


@dataclass(frozen=True)
class ExportSpec:
    """How a transcript is stored.

    :param format: ``json`` (the server's bytes, unchanged) or ``jsonl`` (header line + one line per message).
    :param compression: ``None`` or ``gzip``.
    """

    format: str = "json"
    compression: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise MixConfigError("format", f"{self.format!r} is not one of: {', '.join(FORMATS)}")
        if self.compression not in COMPRESSIONS:
            raise MixConfigError("compression", f"{self.compression!r} is not one of: None, gzip")

    @property
    def extension(self) -> str:
        """File name extension: ``.json``, ``.jsonl``, ``.json.gz`` or ``.jsonl.gz``."""
        return f".{self.format}" + (".gz" if self.compression == "gzip" else "")


@dataclass(frozen=True)
class ExportResult:
    """A stored transcript: ``bytes`` and ``sha256`` are those of the file; ``written`` is False when
    an identical file was already there and was kept."""

    session_id: str
    uri: str
    messages: int
    bytes: int
    sha256: str
    header: dict[str, Any] = field(repr=False)
    written: bool = True
    #: Assistant messages by model.
    models: dict[str, int] = field(default_factory=dict)
    #: Prompt and completion tokens from per-message usage; None when a message lacks it.
    tokens: tuple[int, int] | None = None
    #: The session's files the transcript references (only when asked for: ``scan_files``).
    file_refs: tuple[str, ...] = ()

    def xcom(self) -> dict[str, Any]:
        """The small XCom of an export to a file."""
        return {
            "uri": self.uri,
            "session_id": self.session_id,
            "messages": self.messages,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@contextmanager
def _malformed(session_id: str) -> Iterator[None]:
    """Report a syntax error of the export's (200) body as the client's (retryable) malformed response."""
    try:
        yield
    except TranscriptSyntaxError as exc:
        call = ops.export_session(session_id)
        raise MixMalformedResponseError(call.method, call.path, HTTPStatus.OK, str(exc)) from None


class _Pipeline:
    """The open temporary file and the encoders in front of it."""

    def __init__(self, file: AtomicFile, spec: ExportSpec) -> None:
        self.output = HashedOutput(file.open(), spec.compression)
        self.jsonl = JsonlEncoder(self.output.write) if spec.format == "jsonl" else None
        self.parser = self.jsonl.parser if self.jsonl is not None else TranscriptParser(keep_messages=False)

    def feed(self, chunk: bytes) -> None:
        if self.jsonl is not None:
            self.jsonl.feed(chunk)
        else:
            self.output.write(chunk)
            self.parser.feed(chunk)


class TranscriptWriter:
    """One attempt at storing one transcript: :meth:`open`, :meth:`feed` the body, then
    :meth:`finish` and :meth:`commit` (or :meth:`abort`).

    As a context manager it opens on entry and aborts on an exception. ``on_kill`` reaches it
    through ``tracker``: the temporary file is deleted at once and the next :meth:`feed` raises
    :class:`ArchiveCancelledError`.

    :param session_id: the session being exported.
    :param target: the final path.
    :param spec: format and compression.
    :param tracker: the task's registry of open temporary files (for ``on_kill``).
    """

    def __init__(
        self, session_id: str, target: ObjectStoragePath, spec: ExportSpec, tracker: WriteTracker | None = None
    ) -> None:
        self.session_id = session_id
        self.spec = spec
        self._tracker = tracker
        self._file = AtomicFile(target, tracker)
        self._pipe: _Pipeline | None = None

    def open(self) -> None:
        """Open the temporary file beside the target, creating the directory (else the first feed does)."""
        self._opened()

    def feed(self, chunk: bytes) -> None:
        """Store the next chunk of the server's body."""
        with _malformed(self.session_id):
            if self._tracker is not None and self._tracker.cancelled.is_set():
                raise ArchiveCancelledError(f"export of session {self.session_id} cancelled")
            self._opened().feed(chunk)

    def finish(self) -> ExportResult:
        """Check the body was complete, close the temporary file and describe it (not yet committed)."""
        with _malformed(self.session_id):
            pipe = self._opened()
            output = pipe.output
            if pipe.jsonl is None:
                pipe.parser.close()
            elif pipe.jsonl.close():
                output = self._rewrite_header(pipe)
            size, digest = output.finish()
            self._file.close()
        target = str(self._file.target)
        parser = pipe.parser
        return ExportResult(
            self.session_id,
            target,
            parser.messages,
            size,
            digest,
            parser.header,
            models=parser.models,
            tokens=parser.tokens(),
        )

    def commit(self) -> None:
        """Rename the finished file over the target."""
        self._file.commit()

    def abort(self) -> None:
        """Delete the temporary file; idempotent."""
        self._file.abort()

    def _opened(self) -> _Pipeline:
        if self._pipe is None:
            self._pipe = _Pipeline(self._file, self.spec)
        return self._pipe

    def _rewrite_header(self, pipe: _Pipeline) -> HashedOutput:
        """Copy the file under a complete header line (the server sent fields after ``messages``)."""
        pipe.output.finish()
        self._file.close()
        stale, self._file = self._file, AtomicFile(self._file.target, self._tracker)
        try:
            output = HashedOutput(self._file.open(), self.spec.compression)
            output.write(json_line(pipe.parser.header))
            with stale.temp.open("rb") as raw, _decoded(raw, self.spec.compression) as source:
                source.readline()
                while block := source.read(_COPY_BUFFER):
                    output.write(block)
        finally:
            stale.abort()
        return output

    def __enter__(self) -> TranscriptWriter:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.abort()


@contextmanager
def _decoded(raw: IO[bytes], compression: str | None) -> Iterator[IO[bytes]]:
    if compression != "gzip":
        yield raw
        return
    with gzip.GzipFile(fileobj=raw, mode="rb") as source:
        yield source  # type: ignore[misc]


def export_transcript(
    hook: TranscriptSource,
    session_id: str,
    target: ObjectStoragePath,
    spec: ExportSpec,
    *,
    tracker: WriteTracker | None = None,
    keep_existing: Callable[[ExportResult], bool] | None = None,
    scan_files: bool = False,
) -> ExportResult:
    """Stream the transcript into ``target``; nothing is left behind on failure.

    A transient failure, even mid-body, starts the transfer over into a new temporary file.

    :param tracker: the task's registry of open temporary files (for ``on_kill``).
    :param keep_existing: given the finished file, True discards it and keeps what is at ``target``
        (the result then has ``written=False``).
    :param scan_files: also find the session's file references as the bytes pass (``file_refs``).
    """

    def consume(chunks: Iterator[bytes]) -> ExportResult:
        scanner = ReferenceScanner(session_id) if scan_files else None
        with TranscriptWriter(session_id, target, spec, tracker) as writer:
            for chunk in chunks:
                writer.feed(chunk)
                if scanner is not None:
                    scanner.feed(chunk)
            result = writer.finish()
            if scanner is not None:
                result = replace(result, file_refs=tuple(scanner.finish()))
            if keep_existing is not None and keep_existing(result):
                writer.abort()
                return replace(result, written=False)
            writer.commit()
        return result

    return hook.consume_export(session_id, consume)


def read_summary(hook: TranscriptSource, session_id: str) -> dict[str, Any]:
    """Parse the transcript as it streams (nothing stored) and return a small summary."""

    def consume(chunks: Iterator[bytes]) -> dict[str, Any]:
        parser = TranscriptParser(keep_messages=False)
        with _malformed(session_id):
            for chunk in chunks:
                parser.feed(chunk)
            parser.close()
        return summary(session_id, parser.header, parser.messages)

    return hook.consume_export(session_id, consume)


def summary(session_id: str, header: dict[str, Any], messages: int) -> dict[str, Any]:
    """Session id, title, message count, tokens and cost of a transcript header."""
    return {
        "session_id": session_id,
        "title": header.get("title"),
        "messages": messages,
        "user_message_count": header.get("userMessageCount"),
        "assistant_message_count": header.get("assistantMessageCount"),
        "tool_call_count": header.get("toolCallCount"),
        "prompt_tokens": header.get("promptTokens"),
        "completion_tokens": header.get("completionTokens"),
        "cost": header.get("cost"),
        "created_at": header.get("createdAt"),
        "updated_at": header.get("updatedAt"),
    }
