"""The archive manifest as append-only parts: safe for overlapping runs and shards on any storage.

Layout::

    <base>/manifest.json                                   # version-1 manifest of older releases: read, never written
    <base>/manifest.d/<written at>-shard-<i>-of-<N>-<uuid>.json   # one immutable part per run and shard

A part has the layout of ``manifest.json`` (see :mod:`.manifest`) plus ``shard`` and ``shards``,
and holds only the entries its run wrote or re-checked. Readers (:func:`read_manifest`, the skip
check, cost reports) merge every part: per session, the entry recorded last wins
(:meth:`Entry.recorded_at`; equal times: the part whose name sorts last).

Why parts and not one file rewritten: object stores have no atomic rename and no lock, so a
re-read/merge/rewrite loses the entries of a run that wrote in between. Here a run never
overwrites a file: it creates one uniquely named part. When a shard has more than
:data:`COMPACT_AFTER` parts, its run writes one part merging them, and only once that part is
committed deletes the parts it merged (never one it did not read). At every moment the parts
present hold each committed entry or a newer one of the same session; a reader that finds a part
gone (compacted meanwhile) lists again and finds the merged part.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mix_provider.archive.manifest import MANIFEST_NAME, VERSION, Entry, Manifest
from mix_provider.archive.shards import Shard
from mix_provider.archive.storage import PARTIAL_SUFFIX, AtomicFile
from mix_provider.errors import ManifestError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

#: Directory of the parts, beside the transcripts.
PARTS_DIR = "manifest.d"
#: A shard's run compacts its parts once it finds more than this many.
COMPACT_AFTER = 8
_LOAD_ROUNDS = 100


@dataclass
class MergedManifest:
    """Every session's latest entry, and the parts of one shard as read (for compaction)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    own_parts: list[str] = field(default_factory=list)
    own_entries: dict[str, Entry] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict, repr=False)

    def merge(self, name: str, entries: dict[str, Entry], *, own: bool) -> None:
        """Merge one part: per session, the entry recorded last wins (equal times: the later part name)."""
        for sid, entry in entries.items():
            current = self.entries.get(sid)
            if current is None or (entry.recorded_at(), name) > (current.recorded_at(), self._sources[sid]):
                self.entries[sid] = entry
                self._sources[sid] = name
        if own:
            self.own_parts.append(name)
            _latest(self.own_entries, entries)


def _latest(into: dict[str, Entry], entries: dict[str, Entry]) -> None:
    for sid, entry in entries.items():
        current = into.get(sid)
        if current is None or entry.recorded_at() >= current.recorded_at():
            into[sid] = entry


def parts_dir(base: ObjectStoragePath) -> ObjectStoragePath:
    """``<base>/manifest.d``."""
    return base / PARTS_DIR


def _part_names(base: ObjectStoragePath) -> set[str]:
    """The committed parts' names; temporary files are skipped."""
    try:
        listing = parts_dir(base).fs.ls(parts_dir(base).path, detail=False)
    except FileNotFoundError:
        return set()
    names = (str(item).rstrip("/").rsplit("/", 1)[-1] for item in listing)
    return {n for n in names if n.endswith(".json") and not n.startswith(".") and PARTIAL_SUFFIX not in n}


def read_manifest(base: ObjectStoragePath, shard: Shard | None = None) -> MergedManifest:
    """Merge ``manifest.json`` (if any) and every part under ``base``.

    A part may vanish between the listing and the read (another run compacted it): its entries are
    in a part committed before the deletion, so the directory is listed again until a listing
    shows nothing unread and no part went missing.

    :param shard: whose parts to remember for :func:`write_part`'s compaction.
    :raises ManifestError: when a part or the manifest is unreadable (naming it).
    """
    merged = MergedManifest()
    legacy = base / MANIFEST_NAME
    if legacy.exists():
        merged.merge("", Manifest.load(legacy).entries, own=False)
    suffix = f"-{shard.tag}-" if shard is not None else None
    seen: set[str] = set()
    for _ in range(_LOAD_ROUNDS):
        unread = sorted(_part_names(base) - seen)
        missed = False
        for name in unread:
            seen.add(name)
            try:
                entries = _load_part(parts_dir(base) / name)
            except FileNotFoundError:
                log.info("Manifest part %s was compacted while being read; listing again", name)
                missed = True
                continue
            merged.merge(name, entries, own=suffix is not None and suffix in name)
        if not unread and not missed:
            return merged
    raise ManifestError(f"the parts under {parts_dir(base)} kept changing while being read; try again")


def _load_part(path: ObjectStoragePath) -> dict[str, Entry]:
    """A part's entries; FileNotFoundError when it is gone (``Manifest.load`` would read it as empty)."""
    if not path.exists():
        raise FileNotFoundError(str(path))
    return Manifest.load(path).entries


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def _write(base: ObjectStoragePath, shard: Shard, entries: dict[str, Entry]) -> ObjectStoragePath:
    """Create a new, uniquely named part holding ``entries``; its path."""
    name = f"{_stamp()}-{shard.tag}-{uuid.uuid4().hex[:12]}.json"
    document = {
        "version": VERSION,
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
        "shard": shard.index,
        "shards": shard.count,
        "sessions": {sid: asdict(entry) for sid, entry in sorted(entries.items())},
    }
    file = AtomicFile(parts_dir(base) / name)
    try:
        file.open().write(json.dumps(document, ensure_ascii=False).encode() + b"\n")
        return file.commit()
    except BaseException:
        file.abort()
        raise


def write_part(
    base: ObjectStoragePath, shard: Shard, updates: dict[str, Entry], read: MergedManifest
) -> ObjectStoragePath | None:
    """Record ``updates`` in a new part (none when empty); compact the shard's parts if there are many.

    :param read: what :func:`read_manifest` returned for this shard at the start of the run.
    :returns: the part written, or None.
    """
    if not updates:
        return None
    part = _write(base, shard, updates)
    if len(read.own_parts) + 1 <= COMPACT_AFTER:
        return part
    compacted = dict(read.own_entries)
    _latest(compacted, updates)
    merged_part = _write(base, shard, compacted)
    for name in [*read.own_parts, part.name]:
        _delete(parts_dir(base) / name)
    return merged_part


def _delete(path: ObjectStoragePath) -> None:
    """Delete a merged part; one already gone (another compaction) is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
