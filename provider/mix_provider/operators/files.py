"""Files in and out of sessions: :class:`MixUploadFilesOperator` and :class:`MixCollectFilesOperator`.

See ``docs/files.md`` for how a Mix server keeps files: uploads land in an area every session
shares; what the agent makes stays in the session and is found through the transcript's references.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider import assets
from mix_provider.archive import WriteTracker, check_destination
from mix_provider.archive.media import StoredFile, store_file
from mix_provider.client.files import MAX_UPLOAD_BYTES, check_file_name
from mix_provider.client.validation import require_id
from mix_provider.errors import MixConfigError, MixNotFoundError
from mix_provider.operators._uploads import check_sources, upload_all
from mix_provider.operators.base import MixBaseOperator
from mix_provider.storage_paths import check_location, storage_path
from mix_provider.templating import check_literal

#: What a collect does with a referenced file the server no longer has.
ON_MISSING = ("fail", "skip")


class MixUploadFilesOperator(MixBaseOperator):
    """Give files to a session: upload one file, a list, or a glob from any ``ObjectStoragePath``.

    Every file is checked before the first is sent (it exists, is a file, and is at most ``limit``
    bytes). Uploads land in the server's uploads area, which every session shares, under a cleaned
    name (``my report.pdf`` -> ``my_report.pdf``). Returns ``[{name, size, url, source}]``; with
    asset outlets, their events carry the same list.

    :param session_id: the session (templated).
    :param source: a path or URI (``s3://bucket/a.pdf``, ``file:///data/*.png``, ``/local/x.csv``),
        a glob, or a list of them (templated).
    :param limit: bytes above which a file is refused before anything is sent (default 32 MiB, the API's limit).
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "source")

    def __init__(
        self,
        *,
        session_id: str,
        source: str | ObjectStoragePath | list[Any],
        limit: int = MAX_UPLOAD_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.source = source
        self.limit = limit
        check_literal(partial(require_id, "session_id"), session_id)
        check_literal(check_sources, source)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        """Expand and check the sources, then upload them one by one."""
        session_id = require_id("session_id", self.session_id)
        uploaded = upload_all(self.hook, session_id, self.source, self.limit)
        assets.emit(self, context, assets.uploads_extra(session_id, uploaded))
        return uploaded


class MixCollectFilesOperator(MixBaseOperator):
    """Store what a session produced: the files its transcript references, into an ``ObjectStoragePath``.

    The transcript is streamed and scanned for ``/api/sessions/<id>/files/<name>`` references (in
    replies, tool inputs and results); each referenced file (optionally filtered by ``patterns``) is
    downloaded to ``destination/<name>``, streamed and written atomically. Returns ``{session_id,
    files: [{name, uri, size, sha256, content_type}], missing: [names]}``. A file the agent made but
    never referenced cannot be found over REST.

    :param session_id: the session (templated).
    :param destination: the directory to store into: an ``ObjectStoragePath`` or URI (templated).
    :param patterns: keep only names matching one of these ``fnmatch`` patterns (templated).
    :param on_missing: ``fail`` (default) when a referenced file is gone, or ``skip`` it (listed in ``missing``).
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "destination", "patterns")

    def __init__(
        self,
        *,
        session_id: str,
        destination: str | ObjectStoragePath,
        patterns: str | list[str] | None = None,
        on_missing: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.destination = destination
        self.patterns = patterns
        if on_missing not in ON_MISSING:
            raise MixConfigError("on_missing", f"{on_missing!r} is not one of: {', '.join(ON_MISSING)}")
        self.on_missing = on_missing
        self._tracker: WriteTracker | None = None
        check_literal(partial(require_id, "session_id"), session_id)
        check_location("destination", destination)

    def execute(self, context: Any) -> dict[str, Any]:
        """Find the referenced files, then store each one."""
        session_id = require_id("session_id", self.session_id)
        target = storage_path("destination", self.destination)
        check_destination("destination", target, directory=True)
        names = select(self.hook.referenced_files(session_id), self.patterns)
        self._tracker = WriteTracker()
        stored: list[StoredFile] = []
        missing: list[str] = []
        for name in names:
            try:
                stored.append(store_file(self.hook, session_id, name, target / name, self._tracker))
            except MixNotFoundError:
                if self.on_missing == "fail":
                    raise
                self.log.warning("Session %s references %s, which the server no longer has", session_id, name)
                missing.append(name)
        files = [item.to_json() for item in stored]
        assets.emit(self, context, {"session_ids": [session_id], "stored": files})
        return {"session_id": session_id, "files": files, "missing": missing}

    def on_kill(self) -> None:
        """Stop writing and delete the temporary file being written."""
        if self._tracker is not None:
            self._tracker.cancel()


def select(names: list[str], patterns: str | list[str] | None) -> list[str]:
    """The names matching one of ``patterns`` (all of them without patterns), each a plain file name."""
    wanted = [patterns] if isinstance(patterns, str) else list(patterns or [])
    if any(not isinstance(p, str) or not p for p in wanted):
        raise MixConfigError("patterns", f"must be fnmatch patterns (strings), got {patterns!r}")
    kept = [name for name in names if not wanted or any(fnmatch.fnmatchcase(name, p) for p in wanted)]
    return [check_file_name("name", name) for name in kept]
