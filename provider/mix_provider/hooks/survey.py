"""What a turn spent and which sessions exist, where the server's own answers fall short, for
:class:`~mix_provider.hooks.mix.MixHook`: per-message token usage (:mod:`mix_provider.client.usage`)
and every session beyond a capped list (:mod:`mix_provider.client.inventory`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING

from mix_provider.client import operations as ops
from mix_provider.client.inventory import Listing, survey
from mix_provider.client.lanes import finishing
from mix_provider.client.turns import Reply
from mix_provider.client.usage import TurnTokens, usage_probe
from mix_provider.errors import MixError
from mix_provider.models import CallbackResult, SessionTotals

if TYPE_CHECKING:
    from mix_provider.client import AsyncMixClient, MixClient
    from mix_provider.hooks.ledger import SessionLedger


class MixSurveyMixin:
    """Usage and survey calls of :class:`~mix_provider.hooks.mix.MixHook`."""

    if TYPE_CHECKING:  # provided by MixHook

        @property
        def client(self) -> MixClient: ...

        async def aclient(self) -> AsyncMixClient: ...

        async def aget_session(self, session_id: str) -> SessionTotals: ...

        @property
        def log(self) -> logging.Logger: ...

        @property
        def session_ledger(self) -> SessionLedger | None: ...

        def ledger_ids(self) -> Iterator[str]: ...

    def callback_results(self, session_id: str) -> list[CallbackResult]:
        """What the session's callbacks did, in stored order (from ``GET .../messages``; a ``sub_agent``
        callback's ``subagent_id`` is a sub-agent session whose parent is this one)."""
        messages = self.client.execute(ops.get_messages(session_id))
        return [result for message in messages for result in message.callback_results or ()]

    def turn_tokens(self, session_id: str, reply: Reply) -> TurnTokens | None:
        """The reply's turn's tokens from per-message usage, None when the server reports none or the
        read failed (the turn stands; its tokens are unknown)."""
        try:
            return self.client.turn_tokens(session_id, reply.assistant_ids)
        except MixError as exc:
            self.log.warning("Could not read the per-message usage of session %s: %s", session_id, exc)
            return None

    def reports_message_usage(self, session_id: str) -> bool | None:
        """Whether the server reports per-message token usage (:func:`~mix_provider.client.usage.usage_probe`)."""
        return self.client.run(usage_probe(session_id))

    def survey_sessions(
        self, *, include_subagents: bool = False, known: Iterable[str] = (), pages: int | None = None
    ) -> Listing:
        """Every session, also beyond a capped list (:mod:`mix_provider.client.inventory`); ``known``
        ids, and those of the session ledger (:mod:`mix_provider.hooks.ledger`), are looked up too when
        the list is capped, and :attr:`Listing.unseen <mix_provider.client.inventory.Listing.unseen>`
        and :attr:`~mix_provider.client.inventory.Listing.empty_unseen` say what could still not be
        seen; ``pages`` limits the history read to its newest pages."""
        everything = chain(known, self.ledger_ids())  # read only if the list is capped
        plan = survey(include_subagents, everything, pages, ledger=self.session_ledger is not None)
        return self.client.run(plan)

    async def aturn_tokens(self, session_id: str, reply: Reply) -> TurnTokens | None:
        """Async :meth:`turn_tokens`."""
        try:
            return await (await self.aclient()).turn_tokens(session_id, reply.assistant_ids)
        except MixError as exc:
            self.log.warning("Could not read the per-message usage of session %s: %s", session_id, exc)
            return None

    async def areply_usage(self, session_id: str, reply: Reply) -> tuple[SessionTotals, TurnTokens | None]:
        """What a found reply's event still needs: the session's totals (read with the reply, else now)
        and the turn's tokens (:meth:`aturn_tokens`). Its requests go before other waits' (the
        ``finishing`` lane of :mod:`mix_provider.client.lanes`): the turn waits only for them."""
        with finishing():
            return reply.totals or await self.aget_session(session_id), await self.aturn_tokens(session_id, reply)

    async def asurvey_sessions(
        self, *, include_subagents: bool = False, known: Iterable[str] = (), pages: int | None = None
    ) -> Listing:
        """Async :meth:`survey_sessions` without the ledger (a watcher looks for activity, which a
        session without messages has none of); ``pages`` limits the history read to its newest pages."""
        return await (await self.aclient()).run(survey(include_subagents, known, pages))
