"""The retry policy, decided once for the sync and async clients (tenacity drives the waits).

The first attempt of a call runs outside tenacity (it costs ~20 us a call); only a failure builds a
:class:`RetryPlan`, which replays that failure into tenacity so attempts, waits and logs stay exact.
"""

from __future__ import annotations

import logging
import random
from enum import Enum
from typing import Any

import tenacity

from mix_provider.client.config import RetryPolicy
from mix_provider.client.operations import Call
from mix_provider.errors import (
    MixAPIError,
    MixError,
    MixMalformedResponseError,
    MixNotFoundError,
    MixOutcomeUnknownError,
    MixTransportError,
)

log = logging.getLogger("mix_provider.client")

#: Statuses worth another attempt: timeout, rate limit, server and gateway failures.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses that say the request was not processed, so even a create may simply be resent.
NOT_PROCESSED_STATUSES = frozenset({408, 429})


class Verdict(Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    RECONCILE = "reconcile"
    RAISE = "raise"


def verdict_for(call: Call[Any], exc: BaseException) -> Verdict:
    """Judge a failed attempt of ``call``: resend it, check whether it was applied, or give up."""
    if isinstance(exc, MixOutcomeUnknownError):
        return Verdict.RAISE
    if isinstance(exc, MixTransportError):
        unknown = exc.sent
    elif isinstance(exc, MixAPIError) and exc.status in RETRYABLE_STATUSES:
        unknown = exc.status not in NOT_PROCESSED_STATUSES
    elif isinstance(exc, MixMalformedResponseError):
        unknown = True
    else:
        return Verdict.RAISE
    if not unknown or call.idempotent:
        return Verdict.RETRY
    return Verdict.RECONCILE


def _maybe_applied(exc: BaseException) -> bool:
    """Whether a failed attempt may have been applied by the server (its answer was lost or broken)."""
    if isinstance(exc, MixTransportError):
        return exc.sent
    if isinstance(exc, MixAPIError):
        return exc.status in RETRYABLE_STATUSES and exc.status not in NOT_PROCESSED_STATUSES
    return isinstance(exc, MixMalformedResponseError)


def _may_still_apply(exc: BaseException) -> bool:
    """Whether the server (or the one behind a gateway) may still be working on the request: its answer timed out."""
    if isinstance(exc, MixTransportError):
        return exc.timed_out
    return isinstance(exc, MixAPIError) and exc.status == 504


class RetryPlan:
    """Retry state of one call: its failures so far and whether the next attempt must reconcile first.

    :param call: the call being retried.
    :param policy: the retry policy.
    :param first_error: the failure of the attempt made outside tenacity.
    """

    def __init__(self, call: Call[Any], policy: RetryPolicy, first_error: MixError) -> None:
        self.call = call
        self.policy = policy
        self._initial: MixError | None = first_error
        self._unknown = verdict_for(call, first_error) is Verdict.RECONCILE
        self._maybe_applied = _maybe_applied(first_error)
        self._in_flight = _may_still_apply(first_error)

    def retrying(self, cls: type[tenacity.BaseRetrying]) -> Any:
        """A tenacity ``Retrying``/``AsyncRetrying`` bound to this plan (iterate it)."""
        return cls(
            stop=tenacity.stop_after_attempt(self.policy.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._should_retry),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def replay_initial(self) -> None:
        """Raise the failure of the attempt made before tenacity took over, once."""
        if self._initial is not None:
            initial, self._initial = self._initial, None
            raise initial

    @property
    def must_reconcile(self) -> bool:
        """Whether an earlier attempt may have been applied, so the next attempt reconciles first.

        Sticky: once an outcome is unknown, a later failure (of the lookup, say) cannot make a blind
        resend safe again.
        """
        return self._unknown

    def not_applied(self) -> None:
        """Reconciling found the request not applied: allow a resend, unless it may still be in flight.

        :raises MixOutcomeUnknownError: when an attempt timed out, since the server may apply it later
            and a resend would duplicate it (a retried Airflow task re-attaches instead).
        """
        if self._in_flight:
            raise MixOutcomeUnknownError(
                self.call.method,
                self.call.path,
                "timed out and is not applied yet, but the server may still apply it, so it is not sent again",
                sent=True,
            )

    def final_error(self, exc: MixError) -> MixError:
        """The error to raise once retrying stops: unknown outcomes become :class:`MixOutcomeUnknownError`."""
        if not self._unknown or verdict_for(self.call, exc) is Verdict.RAISE:
            return exc
        how = "could not be reconciled" if self.call.reconcile else "cannot be checked without a baseline"
        return MixOutcomeUnknownError(
            self.call.method,
            self.call.path,
            f"{exc}; the request may have been applied and {how}: check before sending it again",
            sent=True,
        )

    def gone_after_lost_answer(self, exc: MixError) -> bool:
        """Whether ``exc`` is a 404 to a retry of an ``if_gone`` call (a delete) an earlier attempt may have done."""
        if self.call.if_gone is None or not self._maybe_applied or not isinstance(exc, MixNotFoundError):
            return False
        log.warning("Mix %s %s: gone after an attempt whose answer was lost; done", self.call.method, self.call.path)
        return True

    def _should_retry(self, exc: BaseException) -> bool:
        self._maybe_applied = self._maybe_applied or _maybe_applied(exc)
        self._in_flight = self._in_flight or _may_still_apply(exc)
        verdict = verdict_for(self.call, exc)
        self._unknown = self._unknown or verdict is Verdict.RECONCILE
        if verdict is Verdict.RAISE:
            return False
        return self.call.reconcile is not None if self._unknown else True

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return float(min(max(hint, 0.0), self.policy.max_wait))
        backoff = self.policy.initial_wait * self.policy.multiplier ** (state.attempt_number - 1)
        return min(self.policy.max_wait, backoff) * (0.5 + random.random() / 2)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Mix %s %s attempt %d/%d failed (%s); %s in %.2f s",
            self.call.method,
            self.call.path,
            state.attempt_number,
            self.policy.max_retries + 1,
            exc,
            "reconciling, then retrying" if self.must_reconcile else "retrying",
            wait,
        )
