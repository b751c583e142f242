"""The ``a``-prefixed twins of :class:`~mix_provider.hooks.mix.MixHook`'s calls, for triggers: they
run on the triggerer's event loop, share one asyncio client per connection and loop, and fetch the
connection without sync database access (:meth:`MixHook.aclient <mix_provider.hooks.mix.MixHook.aclient>`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Unpack

from mix_provider.client import MessageOptions, Reply, TurnKey
from mix_provider.client import operations as ops
from mix_provider.client.options import NO_OPTIONS
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.turns import find_turn
from mix_provider.client.wait import SendOptions, WaitOptions, split_turn
from mix_provider.models import CancelResult, ExportSession, PermissionAnswer, SessionData

if TYPE_CHECKING:
    from mix_provider.client import AsyncMixClient


class MixAsyncMixin:
    """Async calls of :class:`~mix_provider.hooks.mix.MixHook` (each the twin of a sync one)."""

    if TYPE_CHECKING:  # provided by MixHook

        async def aclient(self) -> AsyncMixClient: ...

    async def aget_session(self, session_id: str) -> SessionData:
        """Async :meth:`get_session`."""
        return await (await self.aclient()).execute(ops.get_session(session_id))

    async def alist_sessions(self, *, include_subagents: bool = False) -> list[SessionData]:
        """Async :meth:`list_sessions`."""
        return await (await self.aclient()).execute(ops.list_sessions(include_subagents))

    async def aexport_session(self, session_id: str) -> ExportSession:
        """Async :meth:`export_session`."""
        return await (await self.aclient()).execute(ops.export_session(session_id))

    async def ascan_transcript(self, session_id: str, turn: TurnKey | None = None) -> ScannedTranscript:
        """Async :meth:`scan_transcript`."""
        return await (await self.aclient()).scan_transcript(session_id, turn)

    async def acancel_session(self, session_id: str) -> CancelResult:
        """Async :meth:`cancel_session`."""
        return await (await self.aclient()).execute(ops.cancel_session(session_id))

    async def agrant_permission(self, permission_id: str) -> PermissionAnswer:
        """Async :meth:`grant_permission`."""
        return await (await self.aclient()).execute(ops.grant_permission(permission_id))

    async def adeny_permission(self, permission_id: str) -> PermissionAnswer:
        """Async :meth:`deny_permission`."""
        return await (await self.aclient()).execute(ops.deny_permission(permission_id))

    async def arespond_to_notification(self, notification_id: str, response_type: str, value: str = "") -> None:
        """Async :meth:`respond_to_notification`."""
        await (await self.aclient()).execute(ops.respond_to_notification(notification_id, response_type, value))

    async def await_for_reply(self, session_id: str, turn: TurnKey, **options: Unpack[WaitOptions]) -> Reply:
        """Async :meth:`wait_for_reply` (for a message already sent)."""
        return await (await self.aclient()).wait_for_reply(session_id, turn, **options)

    async def asend_and_wait(
        self, session_id: str, text: str, options: MessageOptions = NO_OPTIONS, **waits: Unpack[SendOptions]
    ) -> Reply:
        """Async :meth:`send_and_wait` (the stream opens before the message is sent)."""
        turn, wait = split_turn(waits)
        turn = turn or TurnKey.of((await self.aget_session(session_id)).user_message_count, text)
        send = ops.send_message(session_id, text, options, turn=turn)
        return await (await self.aclient()).wait_for_reply(session_id, turn, send=send, **wait)

    async def awas_sent(self, session_id: str, turn: TurnKey) -> bool:
        """Async :meth:`was_sent`."""
        if not turn.may_be_in((await self.aget_session(session_id)).user_message_count):
            return False
        return find_turn((await self.ascan_transcript(session_id, turn)).messages, turn) is not None

    @asynccontextmanager
    async def aopen_export(self, session_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Async :meth:`open_export`."""
        async with (await self.aclient()).open_stream(ops.export_session(session_id)) as chunks:
            yield chunks
