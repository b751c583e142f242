"""The retry policy, decided once for the sync and async clients (tenacity drives the waits).

The first attempt of a call runs outside tenacity; only a failure builds a :class:`RetryPlan`, which
replays that failure into tenacity so attempts, waits and logs stay exact. Whether a failure is
worth another attempt is :func:`~mix_provider.errors.is_retryable`; :func:`classify` adds what a
resend of a non-idempotent call must know.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import tenacity

from mix_provider.client.config import RetryPolicy
from mix_provider.client.operations import Call
from mix_provider.errors import (
    MixAPIError,
    MixError,
    MixNotFoundError,
    MixOutcomeUnknownError,
    MixTransportError,
    is_retryable,
)

T = TypeVar("T")
log = logging.getLogger("mix_provider.client")

#: Retryable statuses that say the request was not processed, so even a create may simply be resent.
NOT_PROCESSED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Failure:
    """What one failed attempt says.

    :param retryable: worth another attempt (:func:`~mix_provider.errors.is_retryable`).
    :param maybe_applied: the server may have applied the request (its answer was lost or broken).
    :param in_flight: the server (or the one behind a gateway) may still be working on it: the answer timed out.
    """

    retryable: bool
    maybe_applied: bool = False
    in_flight: bool = False

    def __or__(self, other: Failure) -> Failure:
        """What two failures of one call say together (``retryable`` is the latest's)."""
        return Failure(other.retryable, self.maybe_applied or other.maybe_applied, self.in_flight or other.in_flight)


def classify(exc: BaseException) -> Failure:
    """Classify a failed attempt once; a failure that is not retryable says nothing more."""
    if not is_retryable(exc):
        return Failure(retryable=False)
    if isinstance(exc, MixTransportError):
        return Failure(True, maybe_applied=exc.sent, in_flight=exc.timed_out)
    if isinstance(exc, MixAPIError):
        return Failure(True, maybe_applied=exc.status not in NOT_PROCESSED_STATUSES, in_flight=exc.status == 504)
    return Failure(True, maybe_applied=True)  # a malformed answer: the request was processed


class RetryPlan(Generic[T]):
    """Retry state of one call: its failures so far and whether the next attempt must reconcile first.

    :param call: the call being retried.
    :param policy: the retry policy.
    :param first_error: the failure of the attempt made outside tenacity.
    """

    def __init__(self, call: Call[T], policy: RetryPolicy, first_error: MixError) -> None:
        self.call = call
        self.policy = policy
        self._initial: MixError | None = first_error
        self._seen = classify(first_error)

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
        return self._seen.maybe_applied and not self.call.idempotent

    @property
    def lookup(self) -> Call[Any] | None:
        """The reconcile lookup to make before the next attempt, when an earlier one may have been applied."""
        return self.call.reconcile.lookup if self.must_reconcile and self.call.reconcile is not None else None

    def settled(self, lookup_result: Any) -> T | None:
        """Judge the reconcile lookup's result: the call's result if it was applied, else None (resend).

        :raises MixOutcomeUnknownError: when it was not applied but an attempt timed out, since the
            server may apply it later and a resend would duplicate it (a retried task re-attaches instead).
        """
        assert self.call.reconcile is not None
        found: T | None = self.call.reconcile.match(lookup_result)
        if found is not None:
            log.warning(
                "Mix %s %s had been applied before its answer was lost; using it", self.call.method, self.call.path
            )
        elif self._seen.in_flight:
            raise MixOutcomeUnknownError(
                self.call.method,
                self.call.path,
                "timed out and is not applied yet, but the server may still apply it, so it is not sent again",
                sent=True,
            )
        return found

    def give_up(self, exc: MixError) -> T:
        """Once retrying stopped on ``exc``: a delete found gone after a lost answer is done, else raise.

        Unknown outcomes are raised as :class:`MixOutcomeUnknownError` (see :meth:`final_error`).
        """
        if self.call.if_gone is not None and self._gone_after_lost_answer(exc):
            return self.call.if_gone()
        final = self.final_error(exc)
        if final is exc:
            raise exc
        raise final from exc

    def final_error(self, exc: MixError) -> MixError:
        """The error to raise once retrying stops: unknown outcomes become :class:`MixOutcomeUnknownError`."""
        if not self.must_reconcile or not is_retryable(exc):
            return exc
        how = "could not be reconciled" if self.call.reconcile else "cannot be checked without a baseline"
        return MixOutcomeUnknownError(
            self.call.method,
            self.call.path,
            f"{exc}; the request may have been applied and {how}: check before sending it again",
            sent=True,
        )

    def _gone_after_lost_answer(self, exc: MixError) -> bool:
        """Whether ``exc`` is a 404 to a retry of an ``if_gone`` call (a delete) an earlier attempt may have done."""
        if self.call.if_gone is None or not self._seen.maybe_applied or not isinstance(exc, MixNotFoundError):
            return False
        log.warning("Mix %s %s: gone after an attempt whose answer was lost; done", self.call.method, self.call.path)
        return True

    def _should_retry(self, exc: BaseException) -> bool:
        self._seen |= classify(exc)
        if not self._seen.retryable:
            return False
        return self.call.reconcile is not None if self.must_reconcile else True

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
