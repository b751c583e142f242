"""Transcript archiving: stream exports into json / jsonl (optionally gzip) files, atomically, hashed.

- :mod:`.transcript`: incremental ExportSession parsing and the JSON Lines encoder (no I/O).
- :mod:`.storage`: storage paths, atomic temp-then-rename writes, hashed/gzipped output.
- :mod:`.export`: one transcript into one file, streamed through the hook (retried from the start).
- :mod:`.manifest`: manifest entries, the version-1 document and the change fingerprint.
- :mod:`.parts`: the manifest as append-only parts under ``manifest.d/``, merged on read.
- :mod:`.shards`: which shard (mapped task) archives which session.
- :mod:`.batch`: many transcripts, concurrently, skipping unchanged ones.

Its errors (:class:`ArchiveFailedError`, :class:`ArchiveCancelledError`, :class:`ManifestError`,
``TranscriptSyntaxError``) live in :mod:`mix_provider.errors`, re-exported here.
"""

from __future__ import annotations

from mix_provider.archive.batch import ArchiveReport, Candidate, SessionArchiver, candidates
from mix_provider.archive.export import (
    COMPRESSIONS,
    FORMATS,
    ExportResult,
    ExportSpec,
    export_transcript,
    read_summary,
)
from mix_provider.archive.manifest import Entry, Manifest, fingerprint
from mix_provider.archive.parts import PARTS_DIR, MergedManifest, read_manifest
from mix_provider.archive.shards import Shard, shard_indices, shard_of
from mix_provider.archive.storage import PARTIAL_SUFFIX, AtomicFile, WriteTracker, check_destination
from mix_provider.errors import ArchiveCancelledError, ArchiveFailedError, ManifestError

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "PARTIAL_SUFFIX",
    "PARTS_DIR",
    "ArchiveCancelledError",
    "ArchiveFailedError",
    "ArchiveReport",
    "AtomicFile",
    "Candidate",
    "Entry",
    "ExportResult",
    "ExportSpec",
    "Manifest",
    "ManifestError",
    "MergedManifest",
    "SessionArchiver",
    "Shard",
    "WriteTracker",
    "candidates",
    "check_destination",
    "export_transcript",
    "fingerprint",
    "read_manifest",
    "read_summary",
    "shard_indices",
    "shard_of",
]
