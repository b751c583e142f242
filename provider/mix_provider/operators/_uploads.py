"""Giving files to a session: the sources an upload names, checked and uploaded, shared by
:class:`~mix_provider.operators.files.MixUploadFilesOperator` and ``MixSendMessageOperator(files=...)``.

Nothing here imports the archive: a turn with files stays off it.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.client.files import MAX_UPLOAD_BYTES
from mix_provider.errors import MixConfigError
from mix_provider.hooks.files import upload_of
from mix_provider.hooks.mix import MixHook
from mix_provider.storage_paths import check_location, storage_path

_GLOB = frozenset("*?[")
#: The XCom key a turn keeps the files it uploaded under until its reply (across deferrals: Airflow
#: clears a task's XComs when a try starts, not when it resumes).
UPLOADED_KEY = "mix_uploaded"


def _sources(value: object) -> list[Any]:
    """``value`` as a list of sources (one path or URI, or a list of them)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise MixConfigError("source", "names no file: give a path, a URI, a glob or a list of them")
    return items


def expand(field: str, value: object) -> list[ObjectStoragePath]:
    """The files ``value`` names: paths, URIs and globs (``*``, ``?``, ``[...]``, ``**``), in order.

    :raises MixConfigError: naming ``field`` for an unknown scheme or a glob matching no file.
    """
    found: list[ObjectStoragePath] = []
    for item in _sources(value):
        path = storage_path(field, item)
        if not _GLOB.intersection(str(path)):
            found.append(path)
            continue
        base, pattern = path, list[str]()
        while _GLOB.intersection(str(base)):
            if base.parent == base:
                raise MixConfigError(field, f"{path}: a glob may not be in the bucket or the root")
            pattern.insert(0, base.name)
            base = base.parent
        matches = sorted((match for match in base.glob("/".join(pattern)) if match.is_file()), key=str)
        if not matches:
            raise MixConfigError(field, f"{path} matches no file")
        found.extend(matches)
    return found


def upload_all(hook: MixHook, session_id: str, source: object, limit: int = MAX_UPLOAD_BYTES) -> list[dict[str, Any]]:
    """Upload every file ``source`` names; all are checked (existence, size) before the first is sent."""
    uploads = [(path, upload_of(path, limit=limit)) for path in expand("source", source)]
    results = []
    for path, upload in uploads:
        info = hook.upload_file(session_id, upload, limit=limit)
        url = info.url or f"/api/sessions/{session_id}/files/{info.name}"
        results.append({"name": info.name, "size": info.size, "url": url, "source": str(path)})
    return results


def with_attachments(text: str, uploaded: list[dict[str, Any]]) -> str:
    """``text`` followed by the URL of each uploaded file, the way the Mix UI refers the agent to them."""
    if not uploaded:
        return text
    return text + "\n\nAttached files:\n" + "\n".join(f"- {item['url']}" for item in uploaded)


def check_sources(value: object) -> None:
    """Check each literal source's scheme at parse time (what exists is checked at run time)."""
    for item in _sources(value):
        check_location("source", item)


def keep_uploaded(context: Any, uploaded: list[dict[str, Any]]) -> None:
    """Keep a turn's uploaded files (small JSON) for its completion, whichever process runs it."""
    context["ti"].xcom_push(key=UPLOADED_KEY, value=uploaded)


def kept_uploaded(context: Any) -> list[dict[str, Any]]:
    """The files this try of the task uploaded (:func:`keep_uploaded`)."""
    ti = context["ti"]
    return ti.xcom_pull(task_ids=ti.task_id, key=UPLOADED_KEY, map_indexes=ti.map_index) or []
