"""Session files stored beside transcripts or anywhere else: streamed, hashed, written atomically.

A file is downloaded through :meth:`MixHook.consume_file <mix_provider.hooks.mix.MixHook.consume_file>`
into an :class:`~mix_provider.archive.storage.AtomicFile`: memory stays flat whatever its size, the
target appears only complete, and a retry after a failure mid-body starts a fresh temporary file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive.storage import AtomicFile, HashedOutput, WriteTracker
from mix_provider.client.files import content_type_of
from mix_provider.errors import ArchiveCancelledError

T = TypeVar("T")


class SessionFiles(Protocol):
    """What a file is stored through (a :class:`~mix_provider.hooks.mix.MixHook`)."""

    def consume_file(self, session_id: str, name: str, consume: Callable[[Iterator[bytes]], T], **thumbnail: Any) -> T:
        """Hand the file's bytes to ``consume``; a transient failure, even mid-body, starts it again."""
        ...


@dataclass(frozen=True)
class StoredFile:
    """A session file as stored: where, how big, its SHA-256 and content type."""

    name: str
    uri: str
    size: int
    sha256: str
    content_type: str

    def to_json(self) -> dict[str, Any]:
        """The small JSON form (XCom, manifests)."""
        return asdict(self)


def store_file(
    hook: SessionFiles, session_id: str, name: str, target: ObjectStoragePath, tracker: WriteTracker | None = None
) -> StoredFile:
    """Download the session's file ``name`` into ``target`` atomically; its size and SHA-256 as stored.

    :raises MixNotFoundError: the server has no such file (nothing is written).
    :raises ArchiveCancelledError: ``tracker`` was cancelled (the task is being killed).
    """

    def consume(chunks: Iterator[bytes]) -> StoredFile:
        atomic = AtomicFile(target, tracker)
        try:
            output = HashedOutput(atomic.open(), None)
            for chunk in chunks:
                if tracker is not None and tracker.cancelled.is_set():
                    raise ArchiveCancelledError(f"cancelled while storing {name} of session {session_id}")
                output.write(chunk)
            size, sha256 = output.finish()
            atomic.commit()
        except BaseException:
            atomic.abort()
            raise
        return StoredFile(name, str(target), size, sha256, content_type_of(name))

    return hook.consume_file(session_id, name, consume)
