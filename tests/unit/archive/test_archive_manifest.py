"""The version-1 manifest (refuse an unreadable one), fingerprints, selection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import Entry, ExportSpec, Manifest, ManifestError, candidates, fingerprint, read_manifest
from mix_provider.archive.manifest import _FINGERPRINT_FIELDS
from mix_provider.models import SessionData

SPEC = ExportSpec("jsonl", "gzip")


def entry(sid: str, **changes: object) -> Entry:
    base = Entry(f"{sid}.jsonl.gz", "jsonl", "gzip", "ab" * 32, 10, 2, "fp", "t", None, "2026-01-01T00:00:00+00:00")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/archive/manifest.json")


def test_a_missing_manifest_is_empty(path: ObjectStoragePath) -> None:
    assert Manifest.load(path).entries == {}


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"version": 2, "sessions": {}}', b'{"version": 1, "sessions": {"a": {"x": 1}}}']
)
def test_an_unreadable_manifest_is_refused_not_overwritten(path: ObjectStoragePath, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(ManifestError, match="not a readable archive manifest"):
        Manifest.load(path)
    with pytest.raises(ManifestError):
        read_manifest(path.parent)
    assert path.read_bytes() == content


def session(**fields: object) -> SessionData:
    data = {"id": "s1", "title": "t", "userMessageCount": 1, "assistantMessageCount": 1, "cost": 0.5}
    return SessionData.model_validate(data | fields)


def test_fingerprint_follows_what_changes_a_transcript() -> None:
    same = fingerprint(session())
    assert fingerprint(session()) == same
    for change in ({"userMessageCount": 2}, {"cost": 0.51}, {"title": "u"}, {"completionTokens": 3}):
        assert fingerprint(session(**change)) != same
    assert fingerprint(session(callbacks=[])) == same


def test_an_entry_matches_only_the_same_file_spec_and_fingerprint() -> None:
    e = entry("a")
    assert e.matches(SPEC, "a.jsonl.gz", "fp", 10)
    assert not e.matches(SPEC, "a.jsonl.gz", "other", 10)
    assert not e.matches(SPEC, "a.jsonl.gz", None, 10)
    assert not e.matches(SPEC, "a.jsonl.gz", "fp", None)  # the file is gone
    assert not e.matches(SPEC, "a.jsonl.gz", "fp", 11)
    assert not e.matches(ExportSpec("jsonl"), "a.jsonl.gz", "fp", 10)


def test_candidates_keep_order_drop_duplicates_and_know_listed_fingerprints() -> None:
    listed = [session(id="a"), session(id="b", cost=1.0)]
    assert [c.session_id for c in candidates(listed)] == ["a", "b"]
    chosen = candidates(listed, ["b", "x", "b"])
    assert [(c.session_id, c.fingerprint) for c in chosen] == [("b", fingerprint(listed[1])), ("x", None)]


def test_the_fingerprint_is_the_digest_of_the_canonical_json_of_earlier_releases() -> None:
    """Fingerprints stored by earlier runs must stay valid (else every session is downloaded once more)."""
    import hashlib
    import json

    for data in ({}, {"title": 'naïve 日本 "q"', "createdAt": "2026-01-02T03:04:05.123Z", "cost": 1e-7}):
        s = session(**data)
        fields = {name: getattr(s, name) for name in _FINGERPRINT_FIELDS}
        canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
        assert fingerprint(s) == hashlib.sha256(canonical.encode()).hexdigest()[:32]
