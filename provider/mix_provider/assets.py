"""Asset events of the Mix tasks that move data: what was stored or uploaded, for DAGs scheduled on it.

A task with ``outlets=[Asset(...)]`` emits one asset event per asset on success (Airflow does);
this module fills each event's ``extra`` with what the task stored, so a consumer DAG
(``schedule=[asset]``) reads the session ids, sizes and hashes from
``triggering_asset_events``. Extras stay small: at most :data:`MAX_SESSIONS` sessions are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import Asset

#: Sessions listed in one event's extra; ``truncated`` says when there were more.
MAX_SESSIONS = 500


def asset_outlets(operator: Any) -> list[Any]:
    """The task's outlets that are assets (aliases and other outlets are left alone)."""
    return [outlet for outlet in getattr(operator, "outlets", None) or () if isinstance(outlet, Asset)]


def emit(operator: Any, context: Mapping[str, Any], extra: dict[str, Any]) -> None:
    """Set ``extra`` on the event of every asset outlet of ``operator``; kept for OpenLineage too."""
    operator._mix_stored = extra  # read by mix_provider.lineage
    outlets = asset_outlets(operator)
    if not outlets:
        return
    events = context["outlet_events"]
    for asset in outlets:
        events[asset].extra = dict(extra)


def uploads_extra(session_id: str, uploaded: list[dict[str, Any]]) -> dict[str, Any]:
    """The event extra of files given to a session (an upload, or a turn with ``files``); OpenLineage
    reads the same: each file an input."""
    return {"session_ids": [session_id], "uploaded": uploaded}


def export_extra(result: Mapping[str, Any]) -> dict[str, Any]:
    """The event extra of one export: ``session_ids``, ``uri``, ``messages``, ``bytes``, ``sha256``."""
    keys = ("uri", "messages", "bytes", "sha256")
    return {"session_ids": [result["session_id"]], **{key: result.get(key) for key in keys if key in result}}


def archive_extra(archived: list[str], summary: Mapping[str, Any], entries: Mapping[str, Any]) -> dict[str, Any]:
    """The event extra of an archive run: the newly archived ``session_ids`` with each file's bytes and sha256
    from the manifest's ``entries`` (and, for an archive with ``include_files``, its ``files`` counts)."""
    listed = archived[:MAX_SESSIONS]
    return {
        "session_ids": listed,
        "sessions": {
            sid: {"path": entries[sid].path, "bytes": entries[sid].bytes, "sha256": entries[sid].sha256}
            for sid in listed
            if sid in entries
        },
        "truncated": len(archived) > MAX_SESSIONS,
        **{
            key: summary[key]
            for key in ("archived", "skipped", "bytes", "base_path", "manifest", "files")
            if key in summary
        },
    }
