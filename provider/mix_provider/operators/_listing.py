""" "Every session" for the list and archive operators: the survey, the lookups beyond a capped list,
and what an incomplete survey means (``on_incomplete``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from mix_provider.client.inventory import Listing
from mix_provider.client.validation import one_of
from mix_provider.errors import MixListingIncompleteError, MixNotFoundError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import SessionData
from mix_provider.operators._window import created_within

#: The values ``on_incomplete`` accepts: raise :class:`MixListingIncompleteError`, or log a warning.
ON_INCOMPLETE = ("fail", "warn")


def check_on_incomplete(value: object) -> str:
    """Validate ``on_incomplete``."""
    return one_of("on_incomplete", value, ON_INCOMPLETE)


def wanted(session: SessionData, include_subagents: bool, after: datetime | None, before: datetime | None) -> bool:
    """Whether a session found beyond the list is one the task asked for (the list filtered the others)."""
    return (include_subagents or not session.is_subagent) and created_within(session.created_at, after, before)


def looked_up(hook: MixHook, ids: Iterable[str]) -> Iterator[SessionData]:
    """The sessions ``ids`` by ``GET /api/sessions/{id}`` (real counts), skipping those deleted meanwhile."""
    for session_id in ids:
        try:
            yield hook.get_session(session_id)
        except MixNotFoundError:
            continue


def settle(listing: Listing, on_incomplete: str, log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Say what an incomplete survey could not see: raise (``fail``) or warn (``warn``).

    Sessions that hold no message and may be unseen leave the survey complete (they hold no
    transcript): they are logged, as a warning while no ledger records the sessions the provider creates.
    """
    if listing.empty_unseen is not None:
        level = logging.INFO if listing.ledger else logging.WARNING
        log.log(level, "Mix sessions without messages may be unseen: %s", listing.empty_unseen)
    if listing.unseen is None:
        return
    if on_incomplete == "fail":
        raise MixListingIncompleteError(listing.unseen)
    log.warning("Not every Mix session could be listed: %s", listing.unseen)
