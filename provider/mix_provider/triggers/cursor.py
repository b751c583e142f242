"""Where ``MixSessionFinishedTrigger`` keeps its cursor across triggerer restarts: the asset state store.

On Airflow >= 3.3 the triggerer gives an event trigger an ``asset_state_store`` for the assets that
watch it. The cursor (each watched session's activity fingerprint and the turns already reported)
is saved there after each poll that changed it, and read back when a restarted triggerer runs the
trigger again, so turns that finished while no triggerer ran are reported then, and none twice.
Without a store (Airflow < 3.3, ``dag.test()``, a trigger not run by a watcher) nothing is kept and
the trigger starts from "now" as before. Delivery is at least once: a turn reported just before a
crash, before its poll was saved, is reported again.

The value holds only session and message ids and counts; it grows with the watched sessions'
finished turns (about 40 bytes a turn).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: The asset state store key of the cursor.
CURSOR_KEY = "mix_session_finished_cursor"
Fingerprints = dict[str, tuple[int, int, float]]
Reported = dict[str, set[str]]


class WatchCursor:
    """The saved state of one trigger (keyed by what it watches: a session id or every session).

    :param store: the trigger's ``asset_state_store`` (an accessor with ``aget``/``aset``, or a
        mapping of them), or None.
    :param scope: what the trigger watches, so two triggers sharing an asset keep apart.
    """

    def __init__(self, store: Any, scope: str) -> None:
        self._accessor = _single(store)
        self._key = f"{CURSOR_KEY}:{scope}"
        self._saved: Any = None

    @property
    def enabled(self) -> bool:
        """Whether there is a store to keep the cursor in."""
        return self._accessor is not None

    async def load(self) -> tuple[Fingerprints, Reported] | None:
        """The saved cursor, or None when there is none (or it cannot be read)."""
        if self._accessor is None:
            return None
        try:
            value = await self._accessor.aget(self._key, None)
            if not isinstance(value, dict):
                return None
            seen = {sid: (int(fp[0]), int(fp[1]), float(fp[2])) for sid, fp in value["seen"].items()}
            reported = {sid: {str(m) for m in ids} for sid, ids in value["reported"].items()}
        except Exception as exc:  # a bad or unreadable cursor must not stop the watcher: start from now
            log.warning("Mix watcher cursor %s not usable (%s); starting from now", self._key, exc)
            return None
        self._saved = value
        return seen, reported

    async def save(self, seen: Fingerprints, reported: Reported) -> None:
        """Save the cursor when it changed; a failed write is logged (the next poll writes again)."""
        if self._accessor is None:
            return
        value = {
            "seen": {sid: list(fp) for sid, fp in sorted(seen.items())},
            "reported": {sid: sorted(ids) for sid, ids in sorted(reported.items()) if sid in seen},
        }
        if value == self._saved:
            return
        try:
            await self._accessor.aset(self._key, value)
            self._saved = value
        except Exception as exc:
            log.warning("Could not save the Mix watcher cursor %s: %s", self._key, exc)


def _single(store: Any) -> Any:
    """The one accessor to keep the cursor in: the store itself, or its first asset's."""
    if store is None:
        return None
    accessors = [*getattr(store, "_by_name", {}).values(), *getattr(store, "_by_uri", {}).values()]
    if accessors:
        return accessors[0]
    return store if hasattr(store, "aget") and hasattr(store, "aset") else None
