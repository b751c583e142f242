"""Cost reports from archive manifests: tokens and cost per day and model, as CSV rows and a PNG chart.

:func:`load_entries` reads the manifest of every archive directory under a base path (its
``manifest.d/`` parts, or an older ``manifest.json``; a date-partitioned archive holds one directory
per day, each a snapshot); a session archived more than once counts once, with its latest
entry, since a session's totals only grow. The day is the session's creation day (UTC); the model
is the one of most of its assistant messages. Entries archived before usage was recorded have no
tokens or cost: they are counted in ``sessions_without_usage``. Tokens are per-message usage sums
(None in entries whose export had none). A sub-agent session's cost is already in its parent's
(``callbacks/executor.go`` and the ``Task`` tool call ``IncrementSessionCost`` on the parent), so
sub-agent sessions are counted as sessions but add no cost, never twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive.chart import stacked_bars
from mix_provider.archive.manifest import MANIFEST_NAME, Entry
from mix_provider.archive.parts import PARTS_DIR, read_manifest
from mix_provider.archive.storage import AtomicFile

UNKNOWN = "unknown"


@dataclass(frozen=True)
class CostRow:
    """Totals of one (day, model)."""

    day: str
    model: str
    sessions: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    sessions_without_usage: int


def archives_under(base: ObjectStoragePath) -> list[ObjectStoragePath]:
    """Every archive directory at or below ``base`` (one with manifest parts or an older ``manifest.json``)."""
    if not base.exists():
        return []
    found = {str(p.parent): p.parent for p in base.rglob(MANIFEST_NAME) if p.is_file()}
    found.update({str(p.parent): p.parent for p in base.rglob(PARTS_DIR) if p.is_dir()})
    return [found[key] for key in sorted(found)]


def load_entries(base: ObjectStoragePath) -> dict[str, Entry]:
    """The latest entry of each session over every archive directory under ``base``."""
    latest: dict[str, Entry] = {}
    for directory in archives_under(base):
        for session_id, entry in read_manifest(directory).entries.items():
            seen = latest.get(session_id)
            if seen is None or entry.recorded_at() >= seen.recorded_at():
                latest[session_id] = entry
    return latest


def _day(entry: Entry) -> str:
    stamp = entry.created_at or entry.archived_at
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc).date().isoformat()
    except ValueError:
        return stamp[:10]


def rollup(entries: Iterable[Entry]) -> list[CostRow]:
    """One row per (day, model), sorted by day then model."""
    sums: dict[tuple[str, str], list[float]] = {}
    for entry in entries:
        bucket = sums.setdefault((_day(entry), entry.model or UNKNOWN), [0, 0, 0, 0.0, 0])
        bucket[0] += 1
        if entry.parent_session_id is not None:
            continue  # its cost is in its parent's
        if entry.cost is None and entry.prompt_tokens is None:
            bucket[4] += 1
            continue
        bucket[1] += entry.prompt_tokens or 0
        bucket[2] += entry.completion_tokens or 0
        bucket[3] += entry.cost or 0.0
    return [
        CostRow(day, model, int(s[0]), int(s[1]), int(s[2]), round(s[3], 8), int(s[4]))
        for (day, model), s in sorted(sums.items())
    ]


def to_csv(rows: Iterable[CostRow]) -> bytes:
    """The rows as CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(CostRow)])
    writer.writerows(astuple(row) for row in rows)
    return out.getvalue().encode()


def to_png(rows: list[CostRow]) -> bytes:
    """A stacked bar chart of cost per day, one colour per model, the legend naming the models (sorted).

    :raises MixMissingExtraError: the ``chart`` extra (matplotlib) is not installed.
    """
    days = sorted({row.day for row in rows})
    models = sorted({row.model for row in rows})
    return stacked_bars(days, models, {(row.day, row.model): row.cost for row in rows})


def write_atomically(target: ObjectStoragePath, data: bytes) -> None:
    """Write ``data`` to ``target`` (parents created), visible only once complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    file = AtomicFile(target)
    try:
        file.open().write(data)
        file.commit()
    except BaseException:
        file.abort()
        raise
