"""The session ledger: one small object per session created through the provider (``[mix] session_ledger``).

The newer Mix server lists only its twenty newest sessions, and its message history reaches only
sessions that hold a user message (:mod:`mix_provider.client.inventory`): a session created and never
sent a message is listed by nothing once twenty newer ones exist. The ledger is what the provider
itself knows: every successful create through :class:`~mix_provider.hooks.mix.MixHook` writes
``<ledger>/<conn_id>/<session id>.json`` (the id, its creation time, the DAG, task and run that
created it when known), and a survey reads the names back as known ids.

One object per session and no read-modify-write: workers on any machine write concurrently without
a lock, and a reader needs one listing call. The location is an ``ObjectStoragePath`` URL, so
distributed workers share it through object storage (``s3://``, ``gs://``, ...); ``file://`` suits
one machine only. Object contents are for people; readers use only the names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import ObjectStoragePath, conf, get_current_context

from mix_provider.client.inventory import LEDGER_OPTION as OPTION_NAME
from mix_provider.defaults import SESSION_LEDGER, SESSION_LEDGER_OPTION
from mix_provider.errors import MixConfigError
from mix_provider.models import SessionData
from mix_provider.storage_paths import LOCAL_PROTOCOLS, storage_path

_SUFFIX = ".json"
#: The object written to prove the ledger writable (not a session: readers take ``*.json`` only).
_PROBE = ".writable"


def configured_ledger(conn_id: str) -> SessionLedger | None:
    """The ledger of ``conn_id``'s sessions, from ``[mix] session_ledger``; None when unset.

    :raises MixConfigError: naming the option when it is not a storage URL.
    """
    raw = conf.get(*SESSION_LEDGER_OPTION, fallback=SESSION_LEDGER).strip()
    if not raw:
        return None
    return SessionLedger(storage_path(OPTION_NAME, raw) / conn_id)


class SessionLedger:
    """The ledger directory of one connection: ``<ledger>/<conn_id>/``.

    :param directory: where the session objects of this connection go.
    """

    def __init__(self, directory: ObjectStoragePath) -> None:
        self.directory = directory
        self._ready = False

    def __str__(self) -> str:
        return str(self.directory)

    def prepare(self) -> None:
        """Prove, once, that the ledger can be written before the first session is created: write
        ``.writable`` into it (a missing bucket, missing credentials, a read-only disk all fail here).

        :raises MixConfigError: naming the option, so no session is created that could not be recorded.
        """
        if self._ready:
            return
        try:
            if self.directory.protocol in LOCAL_PROTOCOLS:  # object stores have no directories to make
                self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / _PROBE).write_text(_now())
        except Exception as exc:  # any filesystem's failure: the location is unusable as configured
            raise MixConfigError(
                OPTION_NAME, f"cannot write to {self.directory}: {type(exc).__name__}: {exc}; fix or unset the option"
            ) from exc
        self._ready = True

    def record(self, session: SessionData) -> None:
        """Write the session's object (idempotent: a second write of one id replaces its object)."""
        self.prepare()
        created = session.created_at.isoformat() if session.created_at else None
        body = {"session_id": session.id, "created_at": created, "recorded_at": _now(), **_task_ids()}
        (self.directory / f"{session.id}{_SUFFIX}").write_text(json.dumps(body, sort_keys=True))

    def forget(self, session_id: str) -> None:
        """Remove a deleted session's object (absent is fine)."""
        (self.directory / f"{session_id}{_SUFFIX}").unlink(missing_ok=True)

    def ids(self) -> Iterator[str]:
        """The recorded session ids (none before the first record).

        :raises MixConfigError: naming the option when the ledger cannot be listed.
        """
        try:
            names = self.directory.fs.ls(self.directory.path, detail=False)
        except FileNotFoundError:
            return
        except Exception as exc:  # a survey that cannot read the ledger must not pass as complete
            raise MixConfigError(OPTION_NAME, f"cannot list {self.directory}: {type(exc).__name__}: {exc}") from exc
        for name in names:
            base = str(name).rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(_SUFFIX):
                yield base.removesuffix(_SUFFIX)


class MixLedgerMixin:
    """The ledger side of :class:`~mix_provider.hooks.mix.MixHook` (its ``create_session`` records)."""

    if TYPE_CHECKING:  # provided by MixHook
        mix_conn_id: str

        @property
        def log(self) -> logging.Logger: ...

    @cached_property
    def session_ledger(self) -> SessionLedger | None:
        """This connection's ledger (``[mix] session_ledger``, read once per hook); None when unset."""
        return configured_ledger(self.mix_conn_id)

    @cached_property
    def unrecorded(self) -> dict[str, str]:
        """Sessions this hook created but could not record, with why (a task reports them)."""
        return {}

    def record_session(self, session: SessionData) -> None:
        """Record a session just created (or re-attached to) in the ledger, if there is one.

        The session exists whatever happens here: a failed write is logged as a WARNING and kept in
        :attr:`unrecorded`, never raised.
        """
        if self.session_ledger is None:
            return
        try:
            self.session_ledger.record(session)
        except Exception as exc:  # the create succeeded: report the miss, do not fail it
            why = f"{type(exc).__name__}: {exc}"
            self.unrecorded[session.id] = why
            self.log.warning(
                "Mix session %s was created but not recorded in %s (%s): %s. A survey of a server that lists "
                "only its newest sessions will not find it while it holds no message.",
                session.id, OPTION_NAME, self.session_ledger, why,
            )  # fmt: skip

    def forget_session(self, session_id: str) -> None:
        """Remove a deleted session from the ledger; a failure is logged (a lookup will 404 and skip it)."""
        if self.session_ledger is None:
            return
        try:
            self.session_ledger.forget(session_id)
        except Exception as exc:  # the delete succeeded; a stale ledger object costs one 404 lookup
            self.log.warning("Could not remove session %s from %s: %s", session_id, OPTION_NAME, exc)

    def ledger_ids(self) -> Iterator[str]:
        """The ids the ledger records, read when iterated (a survey reads them only for a capped list)."""
        if self.session_ledger is not None:
            yield from self.session_ledger.ids()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _task_ids() -> dict[str, Any]:
    """The DAG, task and run ids of the task running now; none outside a task (a script, a triggerer)."""
    try:
        ti = get_current_context()["ti"]
    except (RuntimeError, KeyError):
        return {}
    fields = ("dag_id", "task_id", "run_id", "map_index", "try_number")
    return {name: getattr(ti, name) for name in fields if getattr(ti, name, None) is not None}
