"""A session's ``CallbackResult``\\ s, archived beside its transcript.

The real export carries none: its ``ExportMessage`` has no field for them (``http/rest_messages.go``
``convertToExportSession``), while ``GET /api/sessions/{id}/messages`` shows them on each callback's
``tool`` message (``convertMessagesToData``, ``MessageData.CallbackResults``). So an archive reads them
there, only for a session that has (or may have) callbacks, and writes ``<session id>.callbacks.json``
atomically beside the transcript: a JSON array of the results in stored order, snake_case keys as on
the wire (``CallbackResultData``), empty fields left out. The manifest entry records the file
(``callback_results``: path, sha256, bytes, count); a session whose callbacks stored nothing gets no
file and no record.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from mix_provider.archive.storage import AtomicFile, HashedOutput, WriteTracker
from mix_provider.models import CallbackResult

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

SUFFIX = ".callbacks.json"


class CallbackResultSource(Protocol):
    """Where the results are read (a :class:`~mix_provider.hooks.mix.MixHook`)."""

    def callback_results(self, session_id: str) -> list[CallbackResult]:
        """What the session's callbacks did, in stored order."""
        ...


def archive_callback_results(
    source: CallbackResultSource,
    base: ObjectStoragePath,
    session_id: str,
    tracker: WriteTracker | None = None,
    name: str | None = None,
) -> dict[str, Any] | None:
    """Read the session's callback results and store them as ``<base>/<name>`` (default
    ``<session id>.callbacks.json``; written under a temporary name, then renamed: never a partial
    file); return the manifest record, or None (nothing written) when there are none."""
    results = source.callback_results(session_id)
    if not results:
        return None
    body = json.dumps([result.model_dump(mode="json", exclude_none=True) for result in results], indent=1)
    name = name or f"{session_id}{SUFFIX}"
    file = AtomicFile(base / name, tracker)
    try:
        output = HashedOutput(file.open(), None)
        output.write(body.encode())
        size, sha256 = output.finish()
        file.commit()
    except BaseException:
        file.abort()
        raise
    return {"path": name, "sha256": sha256, "bytes": size, "count": len(results)}
