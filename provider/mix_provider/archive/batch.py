"""Archive many transcripts into one directory, concurrently, skipping those already archived.

:class:`SessionArchiver` runs at most ``max_concurrency`` exports at once on a thread pool; each
worker streams one transcript through the (thread-safe, pooled) sync client into its file, so the
download and the storage writes of a session happen in the same thread. Every transcript is
written atomically, then the run records its entries in a new manifest part (:mod:`.parts`), last.
Sessions found unchanged are decided before the pool starts (no task per skipped session: at
100,000 sessions a daily run is mostly skips). A failed session does not stop the others; the
caller decides what a partial failure means (the operator fails the task).

Why threads and not asyncio: the asyncio variant (``httpx.AsyncClient`` plus storage calls handed
to threads) archived fewer sessions per second than this pool, mostly in anyio's per-read socket
overhead; the measurements are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from mix_provider.archive.callback_results import CallbackResultSource, archive_callback_results
from mix_provider.archive.export import ExportResult, ExportSpec, TranscriptSource, export_transcript
from mix_provider.archive.manifest import Entry, fingerprint
from mix_provider.archive.parts import read_manifest, write_part
from mix_provider.archive.session_files import FileArchiver, FileCounts, StoredSessionFiles
from mix_provider.archive.shards import WHOLE, Shard
from mix_provider.archive.storage import WriteTracker
from mix_provider.errors import ArchiveCancelledError, MixNotFoundError
from mix_provider.models import SessionData
from mix_provider.storage_paths import LOCAL_PROTOCOLS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)


class ArchiveSource(TranscriptSource, StoredSessionFiles, CallbackResultSource, Protocol):
    """What a batch archives through (a :class:`~mix_provider.hooks.mix.MixHook`): its transcripts, its
    files, its callback results, and one sync client its workers share."""

    def get_conn(self) -> Any:
        """The shared client, created now if it was not yet."""
        ...

    def get_session(self, session_id: str) -> SessionData:
        """One session, with real counts (for sessions a capped list cannot fingerprint)."""
        ...


@dataclass(frozen=True)
class Candidate:
    """A session to archive, with the fingerprint of its list entry when known.

    :param lookup: read the session (``GET /api/sessions/{id}``, real counts) before deciding: it was
        found beyond a capped list, or its list entry has no counts to fingerprint.
    :param optional: found by a survey, not asked for: gone (404) or not wanted means skip, not fail.
    :param parent: for a sub-agent's session, its parent's id (``""`` when the server does not say).
    :param callbacks: whether the session has callbacks (None: unknown), i.e. whether its callback
        results are read (:mod:`.callback_results`).
    """

    session_id: str
    fingerprint: str | None = None
    lookup: bool = False
    optional: bool = False
    parent: str | None = None
    callbacks: bool | None = None


def parent_of(session: SessionData) -> str | None:
    """The parent of a sub-agent's session (``""`` when unnamed), None for a main session."""
    return (session.parent_session_id or "") if session.is_subagent else None


def has_callbacks(session: SessionData) -> bool | None:
    """Whether the session has callbacks; None when its answer does not say."""
    return bool(session.callbacks) if "callbacks" in session.model_fields_set else None


def candidates(
    listed: Iterable[SessionData],
    session_ids: Sequence[str] | None = None,
    *,
    counted: bool = True,
    beyond: Sequence[str] = (),
) -> list[Candidate]:
    """The sessions to archive: ``session_ids`` in order (or every listed session, then those found
    ``beyond`` the list), with fingerprints when the list entries have counts (``counted``)."""
    known = {
        s.id: Candidate(
            s.id, fingerprint(s) if counted else None, not counted, parent=parent_of(s), callbacks=has_callbacks(s)
        )
        for s in listed
    }
    if session_ids is None:
        found = [replace(candidate, optional=True) for candidate in known.values()]
        return found + [Candidate(sid, lookup=True, optional=True) for sid in dict.fromkeys(beyond) if sid not in known]
    return [known.get(sid) or Candidate(sid, lookup=not counted) for sid in dict.fromkeys(session_ids)]


@dataclass
class ArchiveReport:
    """What a run did; ``skipped`` holds sessions found unchanged (by fingerprint or by hash)."""

    base_path: str
    manifest: str | None = None
    shard: Shard = WHOLE
    archived: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    #: with ``include_files``: files downloaded, kept and missing, and the bytes downloaded
    files: FileCounts | None = None
    #: how the sessions were found (:meth:`Listing.summary <mix_provider.client.inventory.Listing.summary>`),
    #: None when they were given by id
    listing: dict[str, Any] | None = None

    def xcom(self) -> dict[str, Any]:
        """The small XCom summary (``files`` with ``include_files`` only)."""
        extra = {"files": asdict(self.files)} if self.files is not None else {}
        return {
            **extra,
            "archived": len(self.archived),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "bytes": self.bytes,
            "base_path": self.base_path,
            "manifest": self.manifest,
            "shard": self.shard.index,
            "shards": self.shard.count,
            "listing": self.listing,
        }


@dataclass(frozen=True)
class _Outcome:
    """One session's result: a new manifest entry (or None), and how it went."""

    session_id: str
    entry: Entry | None
    written: bool = False
    bytes: int = 0
    error: str | None = None
    files: FileCounts | None = None
    dropped: bool = False


@dataclass(frozen=True)
class _Exported:
    """One session's export: the transcript, its files (records and counts, when archived) and its
    callback results' manifest record (None: none read or none stored)."""

    result: ExportResult
    files: tuple[dict[str, Any], FileCounts] | None = None
    callbacks: dict[str, Any] | None = None


class SessionArchiver:
    """Archive transcripts under ``base`` as ``<session id><extension>``.

    :param hook: the Mix hook (its sync client is shared by the workers).
    :param base: the archive directory.
    :param spec: format and compression of every transcript.
    :param max_concurrency: exports streaming at once.
    :param tracker: the task's registry of open temporary files (for ``on_kill``).
    :param shard: which manifest parts this run writes and compacts (``todo`` is already this shard's).
    :param keep: for sessions read before archiving (``Candidate.lookup``), whether the task wants
        them (the filters a list applies: creation window, sub-agents).
    :param include_files: also store the files each transcript references (:mod:`.session_files`).
    """

    def __init__(
        self,
        hook: ArchiveSource,
        base: ObjectStoragePath,
        spec: ExportSpec,
        max_concurrency: int,
        tracker: WriteTracker | None = None,
        shard: Shard = WHOLE,
        keep: Callable[[SessionData], bool] | None = None,
        include_files: bool = False,
    ) -> None:
        self.hook = hook
        self.keep = keep
        self.base = base
        self.spec = spec
        self.max_concurrency = max_concurrency
        self.tracker = tracker or WriteTracker()
        self.shard = shard
        self.files = FileArchiver(hook, base, self.tracker) if include_files else None

    def run(self, todo: Sequence[Candidate]) -> ArchiveReport:
        """Archive ``todo``, then record the successes in a new manifest part (written last)."""
        manifest = read_manifest(self.base, self.shard)
        stored = self._stored_sizes({f"{c.session_id}{self.spec.extension}" for c in todo})
        report = ArchiveReport(str(self.base), shard=self.shard, files=FileCounts() if self.files else None)
        work = self._changed(todo, manifest.entries, stored, report)
        self.hook.get_conn()  # create the one shared client before the workers race for it
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="mix-archive") as pool:
            try:
                outcomes = list(pool.map(lambda item: self._archive(item[0], item[1], stored), work))
            except BaseException:  # an interrupt or a kill: stop the other workers at their next chunk
                self.tracker.cancel()
                raise
        for outcome in outcomes:
            if outcome.error is not None:
                report.failed[outcome.session_id] = outcome.error
            elif not outcome.dropped:
                (report.archived if outcome.written else report.skipped).append(outcome.session_id)
                report.bytes += outcome.bytes
                if report.files is not None and outcome.files is not None:
                    report.files.add(outcome.files)
        updates = {o.session_id: o.entry for o in outcomes if o.entry is not None}
        part = write_part(self.base, self.shard, updates, manifest)
        report.manifest = str(part) if part is not None else None
        return report

    def _changed(
        self, todo: Sequence[Candidate], entries: dict[str, Entry], stored: dict[str, int], report: ArchiveReport
    ) -> list[tuple[Candidate, Entry | None]]:
        """The sessions to export, with their entries; the unchanged ones go to ``report.skipped``."""
        work = []
        for candidate in todo:
            entry = entries.get(candidate.session_id)
            name = f"{candidate.session_id}{self.spec.extension}"
            size = stored.get(name)
            if not candidate.lookup and self._unchanged(entry, name, candidate.fingerprint, size):
                report.skipped.append(candidate.session_id)
            else:
                work.append((candidate, entry))
        return work

    def _archive(self, todo: Candidate, entry: Entry | None, stored: dict[str, int]) -> _Outcome:
        """Archive one session (in a worker thread)."""
        name = f"{todo.session_id}{self.spec.extension}"
        try:
            if todo.lookup:
                looked = self._look_up(todo)
                if looked is None:
                    return _Outcome(todo.session_id, None, dropped=True)
                todo = looked
                if self._unchanged(entry, name, todo.fingerprint, stored.get(name)):
                    return _Outcome(todo.session_id, None)
            exported = self._export(todo, entry, stored)
        except ArchiveCancelledError:
            raise
        except Exception as exc:  # one session's failure must not stop the others; its type is kept
            log.warning("Archiving session %s failed: %s: %s", todo.session_id, type(exc).__name__, exc)
            return _Outcome(todo.session_id, None, error=f"{type(exc).__name__}: {exc}")
        return self._outcome(todo, entry, name, exported)

    def _unchanged(self, entry: Entry | None, name: str, fingerprint: str | None, size: int | None) -> bool:
        return entry is not None and entry.matches(self.spec, name, fingerprint, size, files=bool(self.files))

    def _look_up(self, todo: Candidate) -> Candidate | None:
        """``todo`` fingerprinted from ``GET /api/sessions/{id}``; None for a session found by a survey
        that is gone or not wanted (a session asked for by id fails instead)."""
        try:
            session = self.hook.get_session(todo.session_id)
        except MixNotFoundError:
            if todo.optional:
                return None
            raise
        if todo.optional and self.keep is not None and not self.keep(session):
            return None
        return replace(
            todo,
            fingerprint=fingerprint(session),
            lookup=False,
            parent=parent_of(session),
            callbacks=has_callbacks(session),
        )

    def _export(self, todo: Candidate, entry: Entry | None, stored: dict[str, int]) -> _Exported:
        """Export one transcript (kept when its hash is the archived one's), then its callback results
        (a new transcript of a session that has or may have callbacks), then its files if asked."""
        name = f"{todo.session_id}{self.spec.extension}"

        def unchanged(result: ExportResult) -> bool:
            return entry is not None and entry.sha256 == result.sha256 and stored.get(name) == result.bytes

        result = export_transcript(
            self.hook,
            todo.session_id,
            self.base / name,
            self.spec,
            tracker=self.tracker,
            keep_existing=unchanged,
            scan_files=self.files is not None,
        )
        callbacks = None
        if result.written and todo.callbacks is not False:
            callbacks = archive_callback_results(self.hook, self.base, todo.session_id, self.tracker)
        if self.files is None:
            return _Exported(result, None, callbacks)
        files = self.files.archive(todo.session_id, list(result.file_refs), entry.files if entry else None)
        return _Exported(result, files, callbacks)

    def _outcome(self, todo: Candidate, entry: Entry | None, name: str, exported: _Exported) -> _Outcome:
        """The manifest update of an exported session: a new entry, a refreshed one, or none."""
        result = exported.result
        records, counts = exported.files if exported.files is not None else (None, None)
        if result.written:
            new = Entry.of(
                result,
                self.spec,
                name,
                todo.fingerprint,
                files=records,
                parent=todo.parent,
                callback_results=exported.callbacks,
            )
            return _Outcome(todo.session_id, new, True, result.bytes, files=counts)
        assert entry is not None
        if records is not None and records != entry.files:
            return _Outcome(todo.session_id, entry.refreshed(todo.fingerprint, files=records), files=counts)
        refreshed = None if entry.fingerprint == todo.fingerprint else entry.refreshed(todo.fingerprint)
        return _Outcome(todo.session_id, refreshed, files=counts)

    def _stored_sizes(self, wanted: set[str]) -> dict[str, int]:
        """Sizes of the ``wanted`` files already in the archive directory, by name (one listing call).

        On the local disk ``os.scandir`` and a ``stat`` of the wanted names only: fsspec's listing
        stats every entry through Python, and a shard wants a fraction of them (figures in
        ``benchmarks/README.md``, "Archives at scale").
        """
        if self.base.protocol in LOCAL_PROTOCOLS:
            try:
                with os.scandir(str(self.base.path)) as listing:
                    return {item.name: item.stat().st_size for item in listing if item.name in wanted}
            except FileNotFoundError:
                return {}
        try:
            listing = self.base.fs.ls(self.base.path, detail=True)
        except FileNotFoundError:
            return {}
        sizes = ((str(item["name"]).rstrip("/").rsplit("/", 1)[-1], int(item.get("size") or 0)) for item in listing)
        return {name: size for name, size in sizes if name in wanted}
