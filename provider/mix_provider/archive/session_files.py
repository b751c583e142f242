"""Complete archives: the files a transcript references, stored beside it, incrementally.

Files go to ``<base>/<session id>.files/<name>``; the manifest entry's ``files`` records each one::

    "files": {
      "chart.png": {"path": "<session id>.files/chart.png", "size": 2048, "sha256": "<hex>",
                    "content_type": "image/png", "last_modified": "Mon, 07 Dec 2026 06:44:08 GMT"},
      "gone.pdf": {"missing": true}          # referenced, but the server no longer has it
    }

A file recorded before is not downloaded again when a ``HEAD`` shows the same size and
``Last-Modified`` and the stored copy is still there with that size. The session's own files (what
the agent made) are served with both; an upload is not, so a referenced upload is downloaded on every
run that re-archives its session. What a session's REST surface cannot give: files the agent made but
no message references (nothing lists the session's storage directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mix_provider.archive.media import SessionFiles, store_file
from mix_provider.archive.storage import WriteTracker
from mix_provider.client.files import FileStat
from mix_provider.errors import MixNotFoundError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath


class StoredSessionFiles(SessionFiles, Protocol):
    """What files are archived through (a :class:`~mix_provider.hooks.mix.MixHook`): their bytes and their ``HEAD``."""

    def stat_file(self, session_id: str, name: str) -> FileStat:
        """A file's size, ``Last-Modified`` and type without its body."""
        ...


#: A file's manifest record.
FileRecord = dict[str, Any]
MISSING: FileRecord = {"missing": True}


def files_dir(session_id: str) -> str:
    """The directory of a session's files, relative to the archive directory."""
    return f"{session_id}.files"


@dataclass
class FileCounts:
    """What the file part of an archive run did: files downloaded, kept as they were, referenced but gone."""

    downloaded: int = 0
    kept: int = 0
    missing: int = 0
    bytes: int = 0

    def add(self, other: FileCounts) -> None:
        """Add another session's counts."""
        self.downloaded += other.downloaded
        self.kept += other.kept
        self.missing += other.missing
        self.bytes += other.bytes


class FileArchiver:
    """Stores one session's referenced files under the archive directory.

    :param hook: the Mix hook (its sync client is thread-safe).
    :param base: the archive directory.
    :param tracker: the task's registry of open temporary files (for ``on_kill``).
    """

    def __init__(self, hook: StoredSessionFiles, base: ObjectStoragePath, tracker: WriteTracker) -> None:
        self.hook = hook
        self.base = base
        self.tracker = tracker

    def archive(
        self, session_id: str, names: list[str], previous: dict[str, FileRecord] | None
    ) -> tuple[dict[str, FileRecord], FileCounts]:
        """Store every referenced file that changed since ``previous``; the records and what was done."""
        records: dict[str, FileRecord] = {}
        counts = FileCounts()
        for name in names:
            try:
                stat = self.hook.stat_file(session_id, name)
            except MixNotFoundError:
                records[name] = MISSING
                counts.missing += 1
                continue
            old = (previous or {}).get(name)
            if old is not None and self._current(old, stat):
                records[name] = old
                counts.kept += 1
                continue
            path = f"{files_dir(session_id)}/{name}"
            stored = store_file(self.hook, session_id, name, self.base / path, self.tracker)
            records[name] = {
                "path": path,
                "size": stored.size,
                "sha256": stored.sha256,
                "content_type": stat.content_type or stored.content_type,
                "last_modified": stat.last_modified,
            }
            counts.downloaded += 1
            counts.bytes += stored.size
        return records, counts

    def _current(self, old: FileRecord, stat: FileStat) -> bool:
        """Whether the stored copy of ``old`` is still the server's file (same size and time, still there)."""
        if old.get("missing") or stat.size is None or not stat.last_modified:
            return False
        if (old.get("size"), old.get("last_modified")) != (stat.size, stat.last_modified):
            return False
        try:
            return int((self.base / old["path"]).stat().st_size) == stat.size
        except FileNotFoundError:
            return False
