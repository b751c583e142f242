"""The "Mix session" extra link of the Mix tasks: the task's session in a Mix UI.

The UI's base URL is the connection's ``extra.ui_url`` (``http://`` or ``https://``); the link is
``<ui_url>/sessions/<session id>``, or ``ui_url`` with ``{session_id}`` replaced when it holds that
placeholder. The session is the task's ``session_id`` argument, else the one its XCom names (a
created session's id, or ``session_id`` / ``id`` in a returned dict). Airflow 3 computes the link on
the worker when the task ends and stores it as XCom; without ``ui_url`` or a session it is empty.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink

from mix_provider.client.validation import json_object, require_id
from mix_provider.errors import MixConfigError
from mix_provider.hooks.connection import UI_PREFIX

log = logging.getLogger(__name__)
PLACEHOLDER = "{session_id}"


def session_url(ui_url: object, session_id: str) -> str:
    """The session's page under ``ui_url``; a URL that is not http(s) is refused (``MixConfigError``)."""
    if not isinstance(ui_url, str) or not ui_url.startswith(("http://", "https://")):
        raise MixConfigError("extra.ui_url", f"must be an http:// or https:// URL, got {ui_url!r}")
    sid = quote(require_id("session_id", session_id), safe="")
    if PLACEHOLDER in ui_url:
        return ui_url.replace(PLACEHOLDER, sid)
    return f"{ui_url.rstrip('/')}/sessions/{sid}"


def task_session_id(operator: Any, ti_key: Any) -> str | None:
    """The session of the task: its ``session_id`` argument, else the one its return value names."""
    value = getattr(operator, "session_id", None)
    if not isinstance(value, str) or "{{" in value:
        pulled = ti_key.xcom_pull(task_ids=ti_key.task_id) if hasattr(ti_key, "xcom_pull") else None
        value = pulled.get("session_id") or pulled.get("id") if isinstance(pulled, dict) else pulled
    return value if isinstance(value, str) and value else None


class MixSessionLink(BaseOperatorLink):  # type: ignore[misc]
    """Opens the task's Mix session in the UI named by the connection's ``extra.ui_url``."""

    name = "Mix session"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The session's URL, or ``""`` when the connection has no ``ui_url`` or the task no session."""
        try:
            extra = json_object("extra", operator.hook.get_connection(operator.mix_conn_id).extra)
            ui_url = extra.get("ui_url") or extra.get(f"{UI_PREFIX}ui_url")
            session_id = task_session_id(operator, ti_key) if ui_url else None
            return session_url(ui_url, session_id) if session_id else ""
        except Exception as exc:  # a link must never fail the task; say why it is missing
            log.warning("No Mix session link for %s: %s", getattr(operator, "task_id", "?"), exc)
            return ""
