"""OpenLineage for the Mix tasks: the sessions a task read or wrote and the files it stored.

``MixBaseOperator.get_openlineage_facets_on_complete`` (called by the OpenLineage provider when it
is installed and enabled) returns an ``OperatorLineage`` whose datasets are:

* a session: namespace ``mix://<host>:<port>`` (the connection's server), name ``sessions/<id>``;
  an input of export and archive tasks, input and output of a turn, output of a create;
* a stored transcript (export, archive) or session file (collect, an archive with files): the file
  as OpenLineage names storage (``file`` + path, ``s3://bucket`` + key, ...), with an
  ``outputStatistics`` facet (messages as rows, bytes as size);
* an uploaded file: an input of the upload (the session is its output) or of a turn given ``files``
  (beside the session, its input and output).

Without the OpenLineage provider the method returns None; nothing here is imported before it is used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mix_provider.links import task_session_id

#: Where the export and archive tasks leave what they stored (set by :func:`mix_provider.assets.emit`).
STORED_ATTR = "_mix_stored"
_READS = ("MixExportSessionOperator", "MixGetSessionOperator")
_WRITES = ("MixCreateSessionOperator", "MixUpdateSessionCallbacksOperator")
_TURNS = ("MixSendMessageOperator",)


def mix_namespace(base_url: str) -> str:
    """The OpenLineage namespace of a Mix server: ``mix://host[:port]``."""
    return f"mix://{urlsplit(base_url).netloc}"


def storage_names(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a stored file as OpenLineage names storage: ``file`` + path, else scheme://bucket + key."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return "file", parts.path
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _datasets(operator: Any, task_instance: Any) -> tuple[list[Any], list[Any]]:
    from airflow.providers.common.compat.openlineage.facet import Dataset, OutputStatisticsOutputDatasetFacet

    namespace = mix_namespace(operator.hook.config.base_url)
    stored: dict[str, Any] = getattr(operator, STORED_ATTR, None) or {}
    ids = stored.get("session_ids") or [task_session_id(operator, task_instance)]
    sessions = [Dataset(namespace=namespace, name=f"sessions/{sid}") for sid in ids if sid]
    files = []
    if stored.get("uri"):
        files.append((stored["uri"], stored.get("messages"), stored.get("bytes")))
    for entry in (stored.get("sessions") or {}).values():
        files.append((f"{str(stored['base_path']).rstrip('/')}/{entry['path']}", None, entry.get("bytes")))
    files.extend((item["uri"], None, item["size"]) for item in stored.get("stored") or ())
    if stored.get("uploaded"):
        read = [
            Dataset(namespace=ns, name=name) for ns, name in (storage_names(i["source"]) for i in stored["uploaded"])
        ]
        return (sessions + read if type(operator).__name__ in _TURNS else read), sessions
    outputs = []
    for uri, rows, size in files:
        file_namespace, name = storage_names(uri)
        facets = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size)}
        outputs.append(Dataset(namespace=file_namespace, name=name, facets=facets))
    kind = type(operator).__name__
    if stored or kind in _READS:
        return sessions, outputs
    if kind in _WRITES:
        return [], sessions
    return sessions, sessions  # a turn (MixSendMessageOperator, @task.mix), a rewind, a delete


def facets_on_complete(operator: Any, task_instance: Any) -> Any:
    """The task's ``OperatorLineage``, or None without the OpenLineage provider or without a session."""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    inputs, outputs = _datasets(operator, task_instance)
    if not inputs and not outputs:
        return None
    return OperatorLineage(inputs=inputs, outputs=outputs)
