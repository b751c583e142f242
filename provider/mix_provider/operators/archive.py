"""MixArchiveSessionsOperator: many transcripts into one directory, concurrently, with a manifest."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider import assets
from mix_provider.archive import (
    ArchiveReport,
    ExportSpec,
    Manifest,
    SessionArchiver,
    WriteTracker,
    candidates,
    check_destination,
)
from mix_provider.archive.parts import read_manifest
from mix_provider.archive.shards import Shard
from mix_provider.client.inventory import Listing, has_no_counts
from mix_provider.client.validation import optional_int, require_bool, require_ids
from mix_provider.errors import ArchiveFailedError, MixConfigError
from mix_provider.operators._destinations import check_spec
from mix_provider.operators._listing import check_on_incomplete, settle, wanted
from mix_provider.operators._renamed import renamed
from mix_provider.operators._window import as_datetime, created_within
from mix_provider.operators.base import MixBaseOperator
from mix_provider.storage_paths import check_location
from mix_provider.templating import check_literal, is_template


class MixArchiveSessionsOperator(MixBaseOperator):
    """Archive transcripts under ``base_path`` as ``<session id>.<format>[.gz]`` plus ``manifest.d/`` parts.

    Exports run concurrently (at most ``max_concurrency`` at once, on a thread pool). A
    session whose list entry is unchanged since the manifest recorded it (same counts, tokens, cost
    and title) and whose file is still there is skipped without a download; an export whose hash
    equals the archived one keeps the existing file. Each transcript is written atomically and the
    run's manifest part (its new entries only) is written last. If some sessions fail, the others are
    archived and recorded, then the task fails naming the failed ids: a re-run finishes the rest.

    With ``shards=N``, the task archives only the sessions whose id hashes (SHA-256) to ``shard``:
    ``MixArchiveSessionsOperator.partial(..., shards=N).expand(shard=shard_indices(N))`` splits the
    work across N mapped tasks, on any workers, each writing its own manifest parts under
    ``manifest.d/`` (runs and shards never overwrite each other's files; readers merge them).

    Without ``session_ids``, every session is archived, also on a server that lists only its newest
    twenty (without counts): the others are found through its message history, the archive's own
    manifest and the session ledger (``[mix] session_ledger``, :mod:`mix_provider.hooks.ledger`), and
    read one by one to tell whether they changed (:mod:`mix_provider.client.inventory`). If some
    could not be found (no history endpoint), the sessions found are archived and the task then
    fails naming the cap (:class:`~mix_provider.errors.MixListingIncompleteError`), or only warns
    with ``on_incomplete='warn'``. Older sessions holding no message that the ledger does not know
    hold no transcript: they are named in ``listing.empty_unseen`` and logged, not failed on.

    Returns ``{archived, skipped, failed, bytes, base_path, manifest, shard, shards, listing}``
    (``manifest``: the part this run wrote, None if nothing changed; ``listing``: ``{capped,
    beyond_list, complete, unseen, empty_unseen}``, None with ``session_ids``).

    :param base_path: the archive directory, an ``ObjectStoragePath`` or URI (templated).
    :param session_ids: sessions to archive (templated); default: every listed session.
    :param created_after: only sessions created at or after this time (datetime or ISO 8601;
        templated); not with ``session_ids``.
    :param created_before: only sessions created before this time (templated); not with ``session_ids``.
    :param include_subagents: also archive subagent sessions when listing.
    :param format: ``jsonl`` (default) or ``json`` (templated).
    :param compression: ``gzip`` (default) or ``None`` (templated).
    :param max_concurrency: exports streaming at once (>= 1; the default, 16, was chosen by
        measurement with a latency added to every request: see ``benchmarks/README.md``).
    :param shard: which shard this task archives, ``0 <= shard < shards`` (int; templated).
    :param shards: how many shards the sessions are split into (int >= 1; templated).
    :param on_incomplete: ``fail`` (default) or ``warn`` when not every session could be listed.
    :param include_files: also store the files each transcript references beside it, under
        ``<session id>.files/<name>``, incrementally (a file whose size and ``Last-Modified`` did not
        change is not downloaded again); the manifest entry's ``files`` records each one's path, size,
        sha256 and content type, or that it was referenced but missing. The XCom gets ``files``
        (downloaded, kept, missing, bytes). Files no message references cannot be archived: nothing
        lists a session's storage over REST (see ``docs/files.md``).
    """

    template_fields: Sequence[str] = (
        "mix_conn_id",
        "base_path",
        "session_ids",
        "created_after",
        "created_before",
        "format",
        "compression",
        "shard",
        "shards",
    )

    def __init__(
        self,
        *,
        base_path: ObjectStoragePath | str,
        session_ids: Sequence[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        include_subagents: bool = False,
        format: str = "jsonl",
        compression: str | None = "gzip",
        max_concurrency: int = 16,
        shard: int | str = 0,
        shards: int | str = 1,
        on_incomplete: str = "fail",
        include_files: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_incomplete = check_on_incomplete(on_incomplete)
        self.include_files = require_bool("include_files", include_files)
        self.base_path = base_path
        self.session_ids = session_ids
        self.created_after = created_after
        self.created_before = created_before
        self.include_subagents = require_bool("include_subagents", include_subagents)
        self.format = format
        self.compression = compression
        concurrency = optional_int("max_concurrency", max_concurrency, minimum=1)
        if concurrency is None:
            raise MixConfigError("max_concurrency", "must be an integer >= 1, got None")
        self.max_concurrency = concurrency
        self.shard = shard
        self.shards = shards
        self._tracker: WriteTracker | None = None
        self._listing: Listing | None = None
        check_spec(format, compression)
        check_location("base_path", base_path)
        if not is_template(shard) and not is_template(shards):
            Shard.of(shard, shards)
        if session_ids is not None:
            check_literal(partial(require_ids, "session_ids"), session_ids)
        check_literal(partial(as_datetime, "created_after"), created_after)
        check_literal(partial(as_datetime, "created_before"), created_before)
        check_literal(_one_selection, session_ids, created_after, created_before)

    def execute(self, context: Any) -> dict[str, Any]:
        """Validate the rendered arguments, archive, and fail if any session failed."""
        base = check_location("base_path", self.base_path)
        assert base is not None
        check_destination("base_path", base, directory=True)
        spec = ExportSpec(self.format, self.compression)
        shard = Shard.of(self.shard, self.shards)
        ids = self._ids()
        after = as_datetime("created_after", self.created_after)
        before = as_datetime("created_before", self.created_before)
        _one_selection(ids, after, before)
        self._tracker = WriteTracker()
        report = self._archive(base, spec, ids, after, before, shard)
        summary = report.xcom()
        self.log.info("Archive run: %s", summary)
        if report.failed:
            raise ArchiveFailedError(report.failed)
        if self._listing is not None:
            settle(self._listing, self.on_incomplete, self.log)
        entries = Manifest.load(ObjectStoragePath(summary["manifest"])).entries if report.archived else {}
        assets.emit(self, context, assets.archive_extra(report.archived, summary, entries))
        return summary

    def _ids(self) -> list[str] | None:
        return None if self.session_ids is None else require_ids("session_ids", self.session_ids)

    def _archive(
        self,
        base: ObjectStoragePath,
        spec: ExportSpec,
        ids: list[str] | None,
        after: datetime | None,
        before: datetime | None,
        shard: Shard,
    ) -> ArchiveReport:
        if ids is None:
            listing = self.hook.survey_sessions(include_subagents=self.include_subagents, known=_archived(base))
            listed, self._listing = listing.listed, listing
        else:
            listed = self.hook.list_sessions(include_subagents=True)
            listing = Listing(listed, countless=has_no_counts(listed))
        within = [s for s in listed if created_within(s.created_at, after, before)]
        todo = candidates(within, ids, counted=not listing.countless, beyond=listing.beyond)
        todo = [candidate for candidate in todo if shard.owns(candidate.session_id)]
        self.log.info("Archiving %d Mix sessions (%s) to %s (%s)", len(todo), shard.tag, base, spec.extension)
        keep = partial(wanted, include_subagents=self.include_subagents, after=after, before=before)
        archiver = SessionArchiver(
            self.hook, base, spec, self.max_concurrency, self._tracker, shard, keep, include_files=self.include_files
        )
        report = archiver.run(todo)
        report.listing = None if ids is not None else listing.summary()
        return report

    def on_kill(self) -> None:
        """Stop every export and delete the temporary files (archived files and the manifest stay)."""
        if self._tracker is not None:
            self._tracker.cancel()


def _archived(base: ObjectStoragePath) -> Iterator[str]:
    """The ids the archive's manifest records, read only if a survey needs them (a capped list)."""
    yield from read_manifest(base).entries


def _one_selection(ids: object, after: object, before: object) -> None:
    """Sessions are chosen by id or by creation time, not both."""
    if ids is not None and (after or before):
        raise MixConfigError("session_ids", "give session_ids or created_after/created_before, not both")


__getattr__ = renamed(__name__, MixArchiveSessionsOperator)
