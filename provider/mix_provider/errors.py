"""Typed errors of the Mix provider.

Every failure the provider raises is a :class:`MixError`; callers catch the branch they care about::

    MixError
    ├── MixConfigError              bad connection settings or call arguments (before any request)
    │   └── MixFileTooLargeError    a file to upload is over the upload limit (``size``, ``limit``)
    ├── MixTransportError           no usable HTTP exchange: connect failure, timeout, reset (transient)
    │   └── MixOutcomeUnknownError  a create/send may or may not have been applied and could not be reconciled
    ├── MixMalformedResponseError   the server answered, but not with what the API promises
    ├── MixReplyTimeoutError        a reply did not finish before the deadline
    ├── MixReplyAmbiguousError      overlapping runs: the transcript cannot tell our reply from another's
    ├── MixRewindAmbiguousError     no rewind cuts exactly: the cut's second is listed in no defined order (``reason``)
    ├── MixReplyFailedError         a reply finished with a failing finish reason (``finish_reason``)
    │   ├── MixReplyCanceledError   ... with ``canceled``: the run was cancelled (on kill, by a person)
    │   └── MixStepLimitError       ... the run used its ``max_steps`` tool rounds and was stopped (``max_steps``)
    ├── MixSupervisionError         a supervision policy stopped the run (it was cancelled)
    │   ├── MixUndecidedRequestError  no rule decided a permission or notification (``on_undecided='fail'``)
    │   └── MixBudgetExceededError  a turn spent more than ``max_cost_usd`` / ``max_tokens`` (``limit``, ``spent``)
    ├── MixTokensUnmeasurableError  ``max_tokens`` refused before sending: the server reports no per-message usage
    ├── MixAskRequired              a policy hands a request to a person (the operator asks through Airflow)
    ├── MixWaitFailedError          the triggerer's wait (a reply, an idle session) ended in an ``error`` event
    ├── MixTriggerEventError        a trigger event broke the event contract (not trusted)
    ├── MixAPIError                 the server answered with an error status (``status``, ``error_type``)
    │   ├── MixBadRequestError      400 ``bad_request`` / ``validation_error``
    │   │   └── MixUnsupportedFieldError  an older server refused fields it does not know (``fields``)
    │   ├── MixUnauthorizedError    401: the server has no LLM provider credentials (or a proxy refused)
    │   ├── MixNotFoundError        404: unknown session or message
    │   ├── MixRateLimitedError     429, with ``retry_after`` seconds when the server said so
    │   └── MixServerError          5xx
    ├── MixMissingExtraError        an optional feature's extra is not installed (``extra``, the package)
    ├── TranscriptSyntaxError       a transcript body is not a complete ExportSession object (parser, no I/O)
    ├── ManifestError               an archive's ``manifest.json`` cannot be read (left untouched)
    ├── MixTargetExistsError        an export target exists and ``overwrite=False``
    ├── ArchiveCancelledError       the task was killed while a transcript was being written
    ├── ArchiveFailedError          some sessions of an archive run failed (``failed``: error by session id)
    └── MixListingIncompleteError   "every session" could not be listed: the server caps its list (``unseen``)

:class:`MixConfigError`, :class:`TranscriptSyntaxError` and :class:`ManifestError` are also
:class:`ValueError`, :class:`MixMissingExtraError` an :class:`ImportError`, and
:class:`MixTargetExistsError` a :class:`FileExistsError`, so they read naturally in user code. Which failures are worth another attempt is decided by :func:`is_retryable`.
"""

from __future__ import annotations


class MixError(Exception):
    """Root of every error raised by the Mix provider."""


class MixConfigError(MixError, ValueError):
    """Invalid connection settings or call arguments, detected before any request is sent.

    :param field: the offending field or argument name.
    :param message: what is wrong, including the accepted values.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class MixFileTooLargeError(MixConfigError):
    """A file to upload is larger than the server accepts; refused before the request is sent.

    :param field: the argument naming the file.
    :param path: the file.
    :param size: its size in bytes.
    :param limit: the upload limit in bytes.
    """

    def __init__(self, field: str, path: str, size: int, limit: int) -> None:
        super().__init__(field, f"{path} is {size} bytes, over the upload limit of {limit} bytes")
        self.path = path
        self.size = size
        self.limit = limit


class MixTransportError(MixError):
    """The HTTP exchange failed before a complete response was read (transient by nature).

    :param method: HTTP method of the request.
    :param path: URL path of the request.
    :param reason: short description (exception class and text).
    :param sent: whether the request may have reached the server.
    :param timed_out: whether the answer timed out, so the server may still be working on the request.
    """

    def __init__(self, method: str, path: str, reason: str, *, sent: bool, timed_out: bool = False) -> None:
        super().__init__(f"{method} {path} failed: {reason}")
        self.method = method
        self.path = path
        self.reason = reason
        self.sent = sent
        self.timed_out = timed_out


class MixOutcomeUnknownError(MixTransportError):
    """A non-idempotent request (create, send) may have been applied; reconciling did not settle it."""


class MixMalformedResponseError(MixError):
    """The server's response could not be parsed as the API promises.

    :param method: HTTP method of the request.
    :param path: URL path of the request.
    :param status: HTTP status of the response.
    :param reason: what did not parse.
    """

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"{method} {path} returned {status} with a malformed body: {reason}")
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason


class MixReplyTimeoutError(MixError):
    """A reply did not finish before the caller's deadline.

    :param session_id: the session waited on.
    :param timeout: the deadline, in seconds from the start of the wait.
    """

    def __init__(self, session_id: str, timeout: float) -> None:
        super().__init__(f"the reply in session {session_id} did not finish within {timeout:.0f} s")
        self.session_id = session_id
        self.timeout = timeout


class MixReplyAmbiguousError(MixError):
    """Other runs overlapped ours in the session, and the transcript cannot say which messages are ours.

    The server stores no link from a reply to the message it answers, and lists the messages of one
    second in no defined order: when several runs wait for their tool results at once, or finish in
    the same second without the stream having named ours, a message could belong to any of them.
    Send one message at a time to a session (a pool with one slot, or task dependencies).

    :param session_id: the session.
    :param user_message_id: our user message.
    """

    def __init__(self, session_id: str, user_message_id: str) -> None:
        super().__init__(
            f"other runs overlapped this turn in session {session_id} (user message {user_message_id}); "
            "Mix stores no link from a reply to its message and lists one second's messages in no defined "
            "order, so its messages cannot be told apart: send one message at a time to a session"
        )
        self.session_id = session_id
        self.user_message_id = user_message_id


class MixRewindAmbiguousError(MixError):
    """No rewind drops exactly what was asked: the server keeps a *listed* prefix, and the second where
    the cut falls is listed in no defined order (whole-second timestamps, no tie-break), so any cut could
    keep part of what should go or drop part of what should stay. Nothing was rewound.

    :param session_id: the session.
    :param first_dropped: the first message the rewind should drop (a turn's user message).
    :param reason: what makes the cut unreliable.
    """

    def __init__(self, session_id: str, first_dropped: str, reason: str) -> None:
        super().__init__(
            f"cannot rewind session {session_id} to just before message {first_dropped}: {reason}; Mix keeps "
            "the messages listed up to the one rewound to and lists one second's messages in no defined "
            "order, so no cut is exact (rewind to a message_id you choose, or keep the session as it is)"
        )
        self.session_id = session_id
        self.first_dropped = first_dropped
        self.reason = reason


class MixReplyFailedError(MixError):
    """A reply finished, but with a finish reason the caller treats as failure.

    :param session_id: the session.
    :param finish_reason: the reply's finish reason (``error``, ``canceled``, ...).
    :param message_id: the reply's message id (may be empty when the run ended on the stream only).
    :param text: the start of the reply text, or the server's error.
    """

    def __init__(self, session_id: str, finish_reason: str, message_id: str, text: str) -> None:
        super().__init__(
            f"The Mix reply in session {session_id} ended with finish reason {finish_reason!r} "
            f"(message {message_id or 'none'}): {text[:500]}"
        )
        self.session_id = session_id
        self.finish_reason = finish_reason
        self.message_id = message_id


class MixReplyCanceledError(MixReplyFailedError):
    """The run was cancelled before the reply finished (``finish_reason`` ``canceled``)."""


class MixStepLimitError(MixReplyFailedError):
    """The run used all ``max_steps`` tool rounds and the server stopped it: its last round is stored
    as ``canceled`` although nobody cancelled it (``agent.go`` ``processGeneration``).

    :param session_id: the session.
    :param max_steps: the limit the message was sent with.
    :param message_id: the last round's message.
    :param text: that message's text (the partial reply).
    """

    def __init__(self, session_id: str, max_steps: int, message_id: str, text: str) -> None:
        MixError.__init__(
            self,
            f"The Mix run in session {session_id} reached its step limit max_steps={max_steps} and was stopped "
            f"before a final reply (message {message_id or 'none'}); raise max_steps, or pass "
            f"on_step_limit='accept' to take the partial reply: {text[:500]}",
        )
        self.session_id = session_id
        self.finish_reason = "canceled"
        self.message_id = message_id
        self.max_steps = max_steps


def reply_failure(session_id: str, finish_reason: str, message_id: str, text: str) -> MixReplyFailedError:
    """The typed error of a failing reply: :class:`MixReplyCanceledError` for ``canceled``."""
    kind = MixReplyCanceledError if finish_reason == "canceled" else MixReplyFailedError
    return kind(session_id, finish_reason, message_id, text)


class MixAPIError(MixError):
    """The server answered with an error status.

    :param status: HTTP status code.
    :param error_type: the server's error ``type`` (``bad_request``, ``not_found``, ...) or ``None``.
    :param message: the server's error ``message`` (or the plain-text body).
    :param method: HTTP method of the request.
    :param path: URL path of the request.
    :param retry_after: the server's ``Retry-After`` hint in seconds, if it sent one.
    """

    def __init__(
        self,
        status: int,
        error_type: str | None,
        message: str,
        method: str,
        path: str,
        retry_after: float | None = None,
    ) -> None:
        kind = f" {error_type}" if error_type else ""
        super().__init__(f"{method} {path} -> {status}{kind}: {message}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.method = method
        self.path = path
        self.retry_after = retry_after


class MixBadRequestError(MixAPIError):
    """400: the server rejected the request (``bad_request`` or ``validation_error``)."""


class MixUnsupportedFieldError(MixBadRequestError):
    """The server refused optional fields it does not know (an older Mix server decodes strictly).

    :param fields: the wire names of the refused fields the caller set (e.g. ``modelId``).
    :param cause: the server's 400.
    """

    def __init__(self, fields: tuple[str, ...], cause: MixAPIError) -> None:
        names = ", ".join(fields)
        message = (
            f"the server does not accept {names} ({cause.message}); it predates them: leave them unset or upgrade it"
        )
        super().__init__(cause.status, cause.error_type, message, cause.method, cause.path)
        self.fields = fields


class MixUnauthorizedError(MixAPIError):
    """401: the Mix server has no LLM provider credentials, or a proxy in front of it refused the token."""


class MixNotFoundError(MixAPIError):
    """404: the session (or message) does not exist."""


class MixRateLimitedError(MixAPIError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, if any."""


class MixServerError(MixAPIError):
    """5xx: the server (or a proxy in front of it) failed."""


def error_class_for_status(status: int) -> type[MixAPIError]:
    """Map an HTTP error status to the most specific :class:`MixAPIError` subclass."""
    if status >= 500:
        return MixServerError
    return _BY_STATUS.get(status, MixBadRequestError if status == 422 else MixAPIError)


_BY_STATUS: dict[int, type[MixAPIError]] = {
    400: MixBadRequestError,
    401: MixUnauthorizedError,
    403: MixUnauthorizedError,
    404: MixNotFoundError,
    429: MixRateLimitedError,
}


#: Error statuses worth another attempt: request timeout, rate limit, server and gateway failures.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` may pass by itself, so the same request is worth another attempt.

    The one predicate of the client's retries, the message trigger and the stream opener: a transport
    failure (not an unknown outcome, which a resend could duplicate), an error status in
    :data:`RETRYABLE_STATUSES` (408 included: the server gave up waiting for the request; other 5xx
    such as 501 are not, they do not pass) and a malformed answer (a proxy's error page or a cut
    body usually passes).
    """
    if isinstance(exc, MixOutcomeUnknownError):
        return False
    if isinstance(exc, MixAPIError):
        return exc.status in RETRYABLE_STATUSES
    return isinstance(exc, (MixTransportError, MixMalformedResponseError))


class MixWaitFailedError(MixError):
    """The triggerer's wait (for a reply, or for an idle session) ended in an ``error`` event: a permanent
    error, or too many transient ones.

    :param session_id: the session waited on.
    :param message: the event's message (the error's type and text).
    """

    def __init__(self, session_id: str, message: str) -> None:
        super().__init__(f"Mix message error: {message}")
        self.session_id = session_id


class MixSupervisionError(MixError):
    """A supervision policy stopped the run: it was cancelled, and the task fails.

    :param session_id: the session.
    """

    def __init__(self, session_id: str, message: str) -> None:
        super().__init__(message)
        self.session_id = session_id


class MixUndecidedRequestError(MixSupervisionError):
    """No rule of the policy decided a permission request or notification, and ``on_undecided`` is ``fail``.

    :param session_id: the session.
    :param kind: ``permission`` or ``notification``.
    :param request: the tool and what it wanted (``bash 'rm -rf /tmp/x'``).
    """

    def __init__(self, session_id: str, kind: str, request: str) -> None:
        hint = "add a PermissionRule" if kind == "permission" else "add an answer or a default_choice"
        super().__init__(
            session_id,
            f"no rule of {kind}_policy decided the {kind} request {request} in session {session_id}: the run "
            f"was cancelled (on_undecided='fail'); {hint}, or set on_undecided='ask'",
        )
        self.kind = kind
        self.request = request


class MixBudgetExceededError(MixSupervisionError):
    """A turn spent more than its budget; the run was cancelled.

    :param session_id: the session.
    :param limit: ``max_cost_usd`` or ``max_tokens``.
    :param allowed: the limit's value.
    :param spent: what the turn had spent when the breach was seen.
    """

    def __init__(self, session_id: str, limit: str, allowed: float, spent: float) -> None:
        super().__init__(
            session_id,
            f"the turn in session {session_id} spent {spent:g} against {limit}={allowed:g}: the run was cancelled",
        )
        self.limit = limit
        self.allowed = allowed
        self.spent = spent


class MixTokensUnmeasurableError(MixError, ValueError):
    """``max_tokens`` was asked for, but the server reports no per-message usage, so a turn's tokens
    cannot be measured; the turn is refused before its message is sent.

    A session's ``promptTokens``/``completionTokens`` are the last LLM call's, not totals
    (``agent.go`` ``TrackUsage``): their change is no turn's spend.

    :param session_id: the session.
    :param reason: what the server showed.
    """

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(
            f"max_tokens cannot be enforced in session {session_id}: {reason}, and a session's token "
            "fields are those of its last LLM call, not totals; use max_cost_usd (the session's cost is "
            "cumulative) or drop max_tokens"
        )
        self.session_id = session_id
        self.reason = reason


class MixAskRequired(MixError):
    """A policy hands a request to a person (``on_undecided='ask'``); the run waits for the answer.

    :param session_id: the session.
    :param request: the request, as :meth:`Request.to_json <mix_provider.client.requests.Request.to_json>`.
    """

    def __init__(self, session_id: str, request: dict[str, object]) -> None:
        super().__init__(f"a person must answer the {request.get('kind')} request {request.get('id')} in {session_id}")
        self.session_id = session_id
        self.request = request


class MixTriggerEventError(MixError):
    """A trigger event broke the event contract (not a dict, unknown status, missing keys).

    :param reason: what is wrong with the event.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid event from the Mix trigger: {reason}")


class MixMissingExtraError(MixError, ImportError):
    """An optional feature needs a package its extra installs.

    :param feature: what needs it (``the cost chart``).
    :param extra: the extra to install (``chart``).
    :param package: the package the extra brings.
    """

    def __init__(self, feature: str, extra: str, package: str) -> None:
        super().__init__(f"{feature} needs {package}: pip install 'airflow-provider-mix[{extra}]'")
        self.extra = extra


class TranscriptSyntaxError(MixError, ValueError):
    """The body is not a complete ExportSession JSON object."""


class ManifestError(MixError, ValueError):
    """The manifest at the destination cannot be read; it is left untouched."""


class MixTargetExistsError(MixError, FileExistsError):
    """An export's target file exists and ``overwrite`` is False."""


class ArchiveCancelledError(MixError):
    """The task was killed while a transcript was being written."""


class ArchiveFailedError(MixError):
    """Some sessions could not be archived (the others were, and are in the manifest).

    :param failed: error text by session id.
    """

    def __init__(self, failed: dict[str, str]) -> None:
        shown = "; ".join(f"{sid}: {error}" for sid, error in list(failed.items())[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        super().__init__(f"{len(failed)} session(s) failed to archive: {shown}{more}")
        self.failed = failed


class MixListingIncompleteError(MixError):
    """A task meant to see every session could not: the server lists only its newest sessions and
    offers no other way to find the rest (``on_incomplete='warn'`` makes this a warning).

    :param unseen: what could not be seen, and the remedy.
    """

    def __init__(self, unseen: str) -> None:
        super().__init__(f"Not every Mix session could be listed: {unseen}")
        self.unseen = unseen
