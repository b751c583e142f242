"""MixSessionFinishedTrigger: an event trigger for ``AssetWatcher`` that fires when an agent turn finishes.

Schedule a DAG on "agent finished"::

    asset = Asset("mix_agent_finished", watchers=[AssetWatcher(name="mix", trigger=MixSessionFinishedTrigger())])
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from mix_provider.client.turns import TurnKey, finished_turns
from mix_provider.client.validation import positive_number, require_id
from mix_provider.errors import MixError, MixNotFoundError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import SessionData
from mix_provider.triggers.cursor import WatchCursor


async def _counted(hook: MixHook, session_id: str) -> SessionData | None:
    """The session with its real counts (a count-less list entry cannot show progress); None if gone."""
    try:
        return await hook.aget_session(session_id)
    except MixNotFoundError:
        return None


def activity(session: SessionData) -> tuple[int, int, float]:
    """A cheap fingerprint of a session's progress, from the list result."""
    return (session.user_message_count, session.assistant_message_count, session.cost)


class MixSessionFinishedTrigger(BaseEventTrigger):  # type: ignore[misc]
    """Fire each time a turn finishes in one session (``session_id``) or in any main session.

    Turns that had already finished when the trigger started are not reported; each run is reported
    once, also when it finishes after a later one (the server runs messages concurrently). The session
    list is polled (one cheap call); a transcript is read only for a session whose counts changed.
    On a server whose list shows only its newest twenty sessions, without counts
    (:mod:`mix_provider.client.inventory`), the sessions of the newest page of the message history
    are watched too, and each watched session is read (``GET /api/sessions/{id}``) for its counts: a
    turn in an older session is seen when its message is among the newest thousand.

    :param session_id: the session to watch, or None for every main session.
    :param mix_conn_id: the Mix connection id.
    :param poll_interval: seconds between polls.
    """

    def __init__(
        self, session_id: str | None = None, mix_conn_id: str = MixHook.default_conn_name, poll_interval: float = 5.0
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.mix_conn_id = mix_conn_id
        self.poll_interval = positive_number("poll_interval", poll_interval)
        if session_id is not None:
            require_id("session_id", session_id)
        self._warned = False
        self._keys: dict[str, TurnKey] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and kwargs; no secrets."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"session_id": self.session_id, "mix_conn_id": self.mix_conn_id, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll, and yield ``{session_id, message_id}`` for each newly finished turn (run)."""
        hook = MixHook(self.mix_conn_id)
        cursor = WatchCursor(getattr(self, "asset_state_store", None), self.session_id or "*")
        try:
            seen, reported = await cursor.load() or (None, {})
            while seen is None:  # "before the start" must be known, or old turns would look new
                seen = await self._snapshot(hook)
                if seen is None:
                    await asyncio.sleep(self.poll_interval)
                else:
                    reported = {sid: set(await self._finished(hook, sid) or ()) for sid in seen}
            await cursor.save(seen, reported)
            while True:
                await asyncio.sleep(self.poll_interval)
                current = await self._snapshot(hook)
                for sid in [s for s, fp in (current or {}).items() if seen.get(s) != fp]:
                    done = reported.setdefault(sid, set())
                    for message_id in await self._finished(hook, sid) or ():
                        if message_id not in done:
                            done.add(message_id)
                            yield TriggerEvent({"session_id": sid, "message_id": message_id})
                seen = current if current is not None else seen
                await cursor.save(seen, reported)
        finally:
            await hook.aclose()

    async def _snapshot(self, hook: MixHook) -> dict[str, tuple[int, int, float]] | None:
        """Fingerprints of the watched sessions; None when the poll failed."""
        try:
            if self.session_id is not None:
                return self._fingerprints([await hook.aget_session(self.session_id)])
            listing = await hook.asurvey_sessions(pages=1)
            if listing.unseen is not None and not self._warned:
                self._warned = True
                self.log.warning("Watching the sessions the server lists only: %s", listing.unseen)
            if not listing.countless:
                return self._fingerprints(listing.listed)
            ids = [*(s.id for s in listing.listed), *listing.beyond]
            found = await asyncio.gather(*(_counted(hook, sid) for sid in ids))
            return self._fingerprints([s for s in found if s is not None and not s.is_subagent])
        except MixNotFoundError:
            return {}
        except MixError as exc:
            self.log.warning("Mix poll failed (%s); will try again", exc)
            return None

    def _fingerprints(self, sessions: Iterable[SessionData]) -> dict[str, tuple[int, int, float]]:
        """The sessions' fingerprints; keeps the callbacks they carry for :meth:`_finished`."""
        for session in sessions:
            if "callbacks" in session.model_fields_set:
                self._keys[session.id] = TurnKey.of_callbacks(session.callbacks)
        return {session.id: activity(session) for session in sessions}

    async def _finished(self, hook: MixHook, session_id: str) -> list[str] | None:
        """The final message ids of the session's finished runs, its callbacks' messages counted in
        the run that caused them (callbacks a poll did not show are read once); None when it could
        not be read."""
        try:
            if session_id not in self._keys:
                self._keys[session_id] = TurnKey.of_callbacks((await hook.aget_session(session_id)).callbacks)
            key = self._keys[session_id]
            return finished_turns((await hook.ascan_transcript(session_id, key)).messages, key)
        except MixError as exc:
            self.log.warning("Could not read session %s (%s)", session_id, exc)
            return None
