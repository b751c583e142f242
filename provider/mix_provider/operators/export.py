"""MixExportSessionOperator: one transcript, summarised or streamed into a file (json / jsonl, gzip)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider import assets
from mix_provider.archive import (
    ExportSpec,
    WriteTracker,
    check_destination,
    export_transcript,
    read_summary,
)
from mix_provider.archive.callback_results import SUFFIX as CALLBACKS_SUFFIX
from mix_provider.archive.callback_results import archive_callback_results
from mix_provider.client.validation import require_bool, require_id
from mix_provider.errors import MixConfigError, MixTargetExistsError
from mix_provider.operators._destinations import check_spec
from mix_provider.operators._renamed import renamed
from mix_provider.operators.base import MixBaseOperator
from mix_provider.storage_paths import check_location
from mix_provider.templating import check_literal


def _check_suffix(target: ObjectStoragePath, spec: ExportSpec) -> None:
    """Refuse a ``.gz`` name without gzip, or gzip without ``.gz`` (the file would be mislabelled)."""
    if target.name.endswith(".gz") != (spec.compression == "gzip"):
        raise MixConfigError(
            "output_path",
            f"{target.name!r} does not match compression={spec.compression!r}: "
            "gzip output needs a name ending in '.gz', and only gzip output may have one",
        )


class MixExportSessionOperator(MixBaseOperator):
    """Export a session's transcript.

    Without ``output_path``, returns a summary ``{session_id, title, messages, *_count, prompt_tokens,
    completion_tokens, cost, created_at, updated_at}`` (the transcript is parsed as it streams and
    never stored). With ``output_path``, streams the transcript into that file and returns
    ``{uri, session_id, messages, bytes, sha256, callback_results}`` (size and hash of the stored
    file). Memory does not grow with the transcript; the file appears only complete (temp file, then
    rename) and a failure or kill leaves nothing behind. Invalid or cut-off JSON from the server
    fails the task. The export carries no ``CallbackResult``: for a session that has (or may have)
    callbacks they are read from ``GET .../messages`` and stored beside the file as
    ``<file name>.callbacks.json`` (:mod:`mix_provider.archive.callback_results`);
    ``callback_results`` is then ``{uri, sha256, bytes, count}``, else None.

    :param session_id: the session (templated).
    :param output_path: an ``ObjectStoragePath`` or a URI (``file://``, ``s3://``, ``gs://``, any
        fsspec filesystem Airflow knows; templated). Its parent directory is created.
    :param format: ``json`` (the server's bytes, unchanged) or ``jsonl`` (a header line with every
        session field but ``messages``, then one line per message; templated).
    :param compression: ``None`` or ``gzip`` (the name must then end in ``.gz``; templated).
    :param overwrite: replace an existing file (default); if False, fail when it exists.
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "output_path", "format", "compression")

    def __init__(
        self,
        *,
        session_id: str,
        output_path: ObjectStoragePath | str | None = None,
        format: str = "json",
        compression: str | None = None,
        overwrite: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.output_path = output_path
        self.format = format
        self.compression = compression
        self.overwrite = require_bool("overwrite", overwrite)
        self._tracker: WriteTracker | None = None
        spec = check_spec(format, compression)
        target = check_location("output_path", output_path, optional=True)
        if spec is not None and target is not None:
            _check_suffix(target, spec)
        check_literal(partial(require_id, "session_id"), session_id)

    def execute(self, context: Any) -> dict[str, Any]:
        """Validate the rendered arguments, then summarise or store the transcript."""
        session_id = require_id("session_id", self.session_id)
        spec = ExportSpec(self.format, self.compression)
        target = check_location("output_path", self.output_path, optional=True)
        if target is None:
            summary = read_summary(self.hook, session_id)
            self.log.info("Mix session %s: %d messages", session_id, summary["messages"])
            assets.emit(self, context, assets.export_extra(summary))
            return summary
        _check_suffix(target, spec)
        check_destination("output_path", target)
        if not self.overwrite and target.exists():
            raise MixTargetExistsError(f"{target} exists and overwrite=False")
        self._tracker = WriteTracker()
        result = export_transcript(self.hook, session_id, target, spec, tracker=self._tracker)
        self.log.info(
            "Exported session %s: %d messages, %d bytes to %s", session_id, result.messages, result.bytes, target
        )
        assets.emit(self, context, assets.export_extra(result.xcom()))
        return {**result.xcom(), "callback_results": self._callback_results(session_id, target)}

    def _callback_results(self, session_id: str, target: ObjectStoragePath) -> dict[str, Any] | None:
        """Store the session's callback results beside ``target`` when it has (or may have) callbacks:
        an older server that does not show them is read too."""
        if self.hook.get_session(session_id).callbacks == []:
            return None
        name = f"{target.name}{CALLBACKS_SUFFIX}"
        record = archive_callback_results(self.hook, target.parent, session_id, self._tracker, name=name)
        if record is None:
            return None
        self.log.info("Stored %d callback results of session %s beside it", record["count"], session_id)
        return {"uri": str(target.parent / name), **{key: record[key] for key in ("sha256", "bytes", "count")}}

    def on_kill(self) -> None:
        """Stop writing and delete the temporary file (the target is left as it was)."""
        if self._tracker is not None:
            self._tracker.cancel()


__getattr__ = renamed(__name__, MixExportSessionOperator)
