"""Manifest entries: what was archived and how to tell it changed; the version-1 document they live in.

Document layout (version 1), shared by ``manifest.json`` of older releases and by the parts under
``manifest.d/`` (see :mod:`.parts`, which adds ``shard`` and ``shards``)::

    {
      "version": 1,
      "updated_at": "2026-01-02T03:04:05.123456+00:00",
      "sessions": {
        "<session id>": {
          "path": "<session id>.jsonl.gz",        # relative to the archive directory
          "format": "jsonl", "compression": "gzip",
          "sha256": "<hex of the stored file>", "bytes": 1234, "messages": 12,
          "fingerprint": "<hex>",                 # of the session's list entry, see fingerprint()
          "title": "...", "updated_at": "<the transcript's updatedAt>",
          "archived_at": "2026-01-02T03:04:05.123456+00:00",   # just after the file was renamed in place
          "checked_at": null,                     # or when a later run found the file still current
          "created_at": "<createdAt>", "prompt_tokens": 120, "completion_tokens": 40, "cost": 0.00096,
          "model": "<model of most assistant messages>", "models": {"<model>": 2},
          "parent_session_id": null,               # a sub-agent's session: its parent's id
          "files": {"<name>": {"path", "size", "sha256", "content_type", "last_modified"} | {"missing": true}},
          "callback_results": {"path": "<session id>.callbacks.json", "sha256", "bytes", "count"}
        }
      }
    }

The usage fields (``created_at`` to ``models``), ``parent_session_id``, ``files`` (archives with
``include_files``, see :mod:`.session_files`) and ``callback_results`` (sessions whose callbacks
stored results, see :mod:`.callback_results`) were added later: entries written before lack them
(read as None), and keys a later version adds are ignored when reading. ``prompt_tokens`` and
``completion_tokens`` are sums of per-message usage, None when the export has none (a session's own
token fields are its last LLM call's; entries written before this held those).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath
from pydantic_core import from_json

from mix_provider.archive.export import ExportResult, ExportSpec
from mix_provider.errors import ManifestError
from mix_provider.models import SessionData

MANIFEST_NAME = "manifest.json"
VERSION = 1
_FINGERPRINT_FIELDS = (
    "title",
    "user_message_count",
    "assistant_message_count",
    "tool_call_count",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "created_at",
)


def fingerprint(session: SessionData) -> str:
    """A digest of the list entry fields that change whenever the transcript does.

    A new message changes the counts, tokens and cost; a rename changes the title. A rewind followed
    by exactly as many messages of exactly the same token counts would not: when in doubt, the
    transcript's hash (compared after exporting) has the last word.
    """
    fields = {name: getattr(session, name) for name in _FINGERPRINT_FIELDS}
    if fields["created_at"] is not None:  # what default=str did, without a Python callback per session
        fields["created_at"] = str(fields["created_at"])
    canonical = _CANONICAL.encode(fields)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


#: ``json.dumps(..., sort_keys=True, default=str, separators=(",", ":"))``, built once: the same bytes
#: (fingerprints stored by earlier runs stay valid), without a new encoder per session.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class Entry:
    """One archived transcript."""

    path: str
    format: str
    compression: str | None
    sha256: str
    bytes: int
    messages: int
    fingerprint: str | None
    title: str | None
    updated_at: str | None
    archived_at: str
    # Usage, for cost reports (absent from manifests written before they were recorded: None).
    created_at: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    #: The model of most assistant messages, and every model's assistant message count.
    model: str | None = None
    models: dict[str, int] | None = None
    #: when a later run found the stored file still current (only its fingerprint was refreshed)
    checked_at: str | None = None
    #: The referenced files stored beside the transcript, by name (None: files were not archived).
    files: dict[str, dict[str, Any]] | None = None
    #: a sub-agent's session: its parent's id (``""`` when unnamed); its cost is also in the parent's
    #: (``IncrementSessionCost``), so cost reports leave it out. None: a main session, or not recorded.
    parent_session_id: str | None = None
    #: The session's callback results stored beside the transcript (``path``, ``sha256``, ``bytes``,
    #: ``count``; :mod:`.callback_results`). None: none stored, or archived before they were.
    callback_results: dict[str, Any] | None = None

    def recorded_at(self) -> datetime:
        """When this entry was recorded: merged manifest parts keep each session's latest entry."""
        return datetime.fromisoformat(self.checked_at or self.archived_at)

    @classmethod
    def of(
        cls,
        result: ExportResult,
        spec: ExportSpec,
        name: str,
        fingerprint: str | None,
        files: dict[str, dict[str, Any]] | None = None,
        parent: str | None = None,
        callback_results: dict[str, Any] | None = None,
    ) -> Entry:
        """The entry of a transcript just stored under ``name`` (with its ``files``, when archived;
        ``parent``: a sub-agent session's parent; ``callback_results``: the record of its stored
        callback results)."""
        return cls(
            path=name,
            format=spec.format,
            compression=spec.compression,
            sha256=result.sha256,
            bytes=result.bytes,
            messages=result.messages,
            fingerprint=fingerprint,
            title=result.header.get("title"),
            updated_at=result.header.get("updatedAt"),
            archived_at=_now(),
            parent_session_id=parent,
            files=files,
            callback_results=callback_results,
            **usage_of(result),
        )

    def refreshed(self, fingerprint: str | None, **changes: Any) -> Entry:
        """This entry with a new fingerprint, re-checked now (the stored file was found current), and
        ``changes`` (its ``files``)."""
        return replace(self, fingerprint=fingerprint, checked_at=_now(), **changes)

    def matches(
        self, spec: ExportSpec, name: str, fingerprint: str | None, stored_size: int | None, *, files: bool = False
    ) -> bool:
        """Whether the stored file is this entry's and the session has not changed since (and, with
        ``files``, its referenced files were archived too)."""
        same_file = self.path == name and stored_size == self.bytes
        same_spec = self.format == spec.format and self.compression == spec.compression
        has_files = not files or self.files is not None
        return same_file and same_spec and has_files and fingerprint is not None and fingerprint == self.fingerprint


class Manifest:
    """The manifest of one archive directory.

    :param path: where ``manifest.json`` lives.
    :param entries: the archived sessions by id.
    """

    def __init__(self, path: ObjectStoragePath, entries: dict[str, Entry] | None = None) -> None:
        self.path = path
        self.entries = dict(entries or {})

    @classmethod
    def load(cls, path: ObjectStoragePath) -> Manifest:
        """Read the manifest at ``path`` (empty when there is none).

        :raises ManifestError: when it exists but is not a version-1 manifest.
        """
        if not path.exists():
            return cls(path)
        try:
            document = from_json(path.read_bytes())  # faster than json.loads on large parts
            if document.get("version") != VERSION:
                raise ValueError(f"unsupported version {document.get('version')!r}")
            entries = {sid: entry_of(fields) for sid, fields in document["sessions"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ManifestError(f"{path} is not a readable archive manifest ({exc}); fix or move it") from exc
        return cls(path, entries)


def usage_of(result: ExportResult) -> dict[str, Any]:
    """An entry's usage fields from the transcript: its header's cost (cumulative), its messages'
    tokens (per-message usage, None when the export has none: the header's token fields are the last
    LLM call's, ``agent.go`` ``TrackUsage``) and models."""
    header, models = result.header, dict(result.models)
    prompt, completion = result.tokens if result.tokens is not None else (None, None)
    return {
        "created_at": header.get("createdAt"),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": header.get("cost"),
        "model": max(models, key=lambda name: (models[name], name)) if models else None,
        "models": models or None,
    }


def entry_of(fields: dict[str, Any]) -> Entry:
    """An entry from its manifest object; keys a later version added are ignored (read, not kept)."""
    known = {f.name for f in dataclasses.fields(Entry)}
    return Entry(**{key: value for key, value in fields.items() if key in known})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def manifest_path(base: ObjectStoragePath) -> ObjectStoragePath:
    """``<base>/manifest.json``."""
    return base / MANIFEST_NAME
