"""MixHook: an Airflow ``mix`` connection adapted to the Mix client, one method per API call.

Sync methods serve operators and sensors; ``a``-prefixed coroutines serve triggers and fetch the
connection without sync database access on the event loop. The connection is read once per hook
and one pooled keep-alive client serves every call; close the hook (or use ``with``) to release it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from mix_provider.client import (
    AsyncMixClient,
    ClientConfig,
    MessageOptions,
    MixClient,
    Reply,
    RetryPolicy,
    SessionSpec,
    TurnKey,
    shared,
)
from mix_provider.client import operations as ops
from mix_provider.client.options import NO_OPTIONS
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.turns import find_turn
from mix_provider.client.validation import CallbackLike
from mix_provider.client.wait import SendOptions, WaitOptions, split_turn
from mix_provider.errors import MixError, MixNotFoundError
from mix_provider.hooks.asynchronous import MixAsyncMixin
from mix_provider.hooks.connection import (
    ConnectionFields,
    ConnectionSettings,
    HookOverrides,
    connection_form_widgets,
    read_connection,
    ui_field_behaviour,
)
from mix_provider.hooks.files import MixFilesMixin
from mix_provider.hooks.ledger import MixLedgerMixin
from mix_provider.hooks.managed_agent import MixManagedAgentMixin
from mix_provider.hooks.survey import MixSurveyMixin
from mix_provider.models import (
    AuthStatus,
    BackendMessage,
    CancelResult,
    ExportSession,
    Health,
    MessageAccepted,
    PermissionAnswer,
    SessionData,
)

T = TypeVar("T")


class MixHook(
    BaseHook,  # type: ignore[misc]
    MixAsyncMixin,
    MixManagedAgentMixin,
    MixFilesMixin,
    MixSurveyMixin,
    MixLedgerMixin,
):
    """Talk to a Mix server through an Airflow connection of type ``mix``.

    :param mix_conn_id: the connection id (default ``mix_default``).
    :param timeout: per-request timeout in seconds; overrides the connection's ``extra.timeout``.
    :param max_retries: overrides ``extra.max_retries``.
    :param retry_max_wait: overrides ``extra.retry_max_wait``.
    :param transport: httpx transport for the sync client (tests pass ``httpx.MockTransport``).
    :param async_transport: httpx transport for the async client.
    """

    conn_name_attr = "mix_conn_id"
    default_conn_name = "mix_default"
    conn_type = "mix"
    hook_name = "Mix"

    def __init__(
        self,
        mix_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_max_wait: float | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self.mix_conn_id = mix_conn_id
        self._overrides = HookOverrides(timeout=timeout, max_retries=max_retries, retry_max_wait=retry_max_wait)
        self._transport = transport
        self._async_transport = async_transport
        self._async_client: AsyncMixClient | None = None

    # -- the connection form on Airflow 3.0/3.1 (3.2+ reads provider info's conn-fields) ----------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the ``mix`` form, generated from ``CONN_FIELDS`` (needs flask_appbuilder)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder standard fields, from ``UI_FIELD_BEHAVIOUR``."""
        return ui_field_behaviour()

    # -- configuration ---------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read and parsed once (configuration and ``extra``); its secrets are masked."""
        return self._read(self.get_connection(self.mix_conn_id))

    @property
    def config(self) -> ClientConfig:
        """The client configuration (see :attr:`settings`)."""
        return self.settings.config

    def _read(self, conn: Any) -> ConnectionSettings:
        fields = ConnectionFields(conn.host, conn.schema, conn.port, conn.password, conn.extra)
        settings = read_connection(fields, self._overrides)
        for secret in settings.config.secret_values():
            mask_secret(secret)
        return settings

    @cached_property
    def client(self) -> MixClient:
        """The blocking client (one pooled connection per hook)."""
        return MixClient(self.config, transport=self._transport)

    def get_conn(self) -> MixClient:
        """The blocking client, created now if it was not yet (thread-safe to share once created)."""
        return self.client

    async def aclient(self) -> AsyncMixClient:
        """The asyncio client; the connection is fetched asynchronously the first time.

        Hooks of one connection in one event loop (a triggerer's waits) share one client and its
        connection pool (:mod:`mix_provider.client.shared`); :meth:`aclose` lets go of it.
        """
        if "settings" not in self.__dict__:
            connection = await get_async_connection(self.mix_conn_id, self)
            self.__dict__.setdefault("settings", self._read(connection))
        if self._async_client is None:  # no await since the check: concurrent first calls share one client
            transport = self._async_transport
            self._async_client = (
                shared.acquire(self.config) if transport is None else AsyncMixClient(self.config, transport=transport)
            )
        return self._async_client

    # -- the Sessions API --------------------------------------------------------------------------

    def health(self) -> Health:
        """``GET /health``."""
        return self.client.execute(ops.health())

    def list_sessions(self, *, include_subagents: bool = False) -> list[SessionData]:
        """All sessions (subagent sessions only when asked); never None."""
        return self.client.execute(ops.list_sessions(include_subagents))

    def create_session(self, spec: SessionSpec | str) -> SessionData:
        """Create a session; a lost answer is reconciled by title and creation time, never duplicated.

        With ``[mix] session_ledger`` set, the session is recorded there (:meth:`record_session`); an
        unusable ledger fails before the session is created.

        :param spec: the session (:meth:`SessionSpec.checked <mix_provider.client.SessionSpec.checked>`),
            or a bare title for one with the server's defaults.
        """
        if self.session_ledger is not None:
            self.session_ledger.prepare()
        session = self.client.execute(ops.create_session(spec))
        self.record_session(session)
        return session

    def get_session(self, session_id: str) -> SessionData:
        """One session."""
        return self.client.execute(ops.get_session(session_id))

    def delete_session(self, session_id: str) -> None:
        """Delete a session and its storage; its ledger object goes too, also when it was already gone."""
        try:
            self.client.execute(ops.delete_session(session_id))
        except MixNotFoundError:
            self.forget_session(session_id)
            raise
        self.forget_session(session_id)

    def update_callbacks(self, session_id: str, callbacks: Iterable[CallbackLike]) -> SessionData:
        """Replace the session's callbacks (``[]`` clears them)."""
        return self.client.execute(ops.update_callbacks(session_id, callbacks))

    def export_session(self, session_id: str) -> ExportSession:
        """The whole transcript, parsed (see :meth:`open_export` for large ones)."""
        return self.client.execute(ops.export_session(session_id))

    def scan_transcript(self, session_id: str, turn: TurnKey | None = None) -> ScannedTranscript:
        """The transcript streamed into light message records and the session's totals, text kept only
        where ``turn``'s verdict reads it (:mod:`mix_provider.client.scan`): for verdicts on large ones."""
        return self.client.scan_transcript(session_id, turn)

    def rewind_session(self, session_id: str, message_id: str, *, cleanup_media: bool = False) -> SessionData:
        """Keep messages up to and including ``message_id``; ``cleanupMedia`` is always sent explicitly."""
        return self.client.execute(ops.rewind_session(session_id, message_id, cleanup_media=cleanup_media))

    def get_messages(self, session_id: str) -> list[BackendMessage]:
        """The session's messages."""
        return self.client.execute(ops.get_messages(session_id))

    def cancel_session(self, session_id: str) -> CancelResult:
        """Stop the run in progress."""
        return self.client.execute(ops.cancel_session(session_id))

    def grant_permission(self, permission_id: str) -> PermissionAnswer:
        """Let a tool waiting for permission run (a no-op for an id no longer pending)."""
        return self.client.execute(ops.grant_permission(permission_id))

    def deny_permission(self, permission_id: str) -> PermissionAnswer:
        """Refuse a tool its permission: it fails and the turn goes on to its reply."""
        return self.client.execute(ops.deny_permission(permission_id))

    def respond_to_notification(self, notification_id: str, response_type: str, value: str = "") -> None:
        """Answer a notification (``acknowledge``, ``text`` or ``choice`` with ``value``).

        :raises MixNotFoundError: nothing waits under that id (answered, timed out, or its run cancelled).
        """
        self.client.execute(ops.respond_to_notification(notification_id, response_type, value))

    def send_message(
        self, session_id: str, text: str, options: MessageOptions = NO_OPTIONS, *, turn: TurnKey | None = None
    ) -> MessageAccepted:
        """Send a message (the reply streams); see :func:`~mix_provider.client.operations.send_message`."""
        return self.client.execute(ops.send_message(session_id, text, options, turn=turn))

    def wait_for_reply(self, session_id: str, turn: TurnKey, **options: Unpack[WaitOptions]) -> Reply:
        """Wait for the reply to a message already sent (SSE, falling back to polling the transcript).

        :param options: ``timeout``, ``poll_interval``, ``supervisor`` (answers permissions and
            notifications, watches the budget) and ``answer`` (a decision to send once the stream is
            open: a person's answer); see :meth:`MixClient.wait_for_reply <mix_provider.client.MixClient.wait_for_reply>`.
        """
        return self.client.wait_for_reply(session_id, turn, **options)

    def send_and_wait(
        self, session_id: str, text: str, options: MessageOptions = NO_OPTIONS, **waits: Unpack[SendOptions]
    ) -> Reply:
        """Open the SSE stream, send the message, and wait for its reply (the Mix "turn").

        :param waits: ``turn`` (our message's key; by default built from the session's user message
            count now), ``timeout``, ``poll_interval`` and ``supervisor`` (answers permissions and
            notifications and watches the budget).
        """
        turn, wait = split_turn(waits)
        if turn is None:
            session = self.get_session(session_id)
            turn = TurnKey.of(session.user_message_count, text, session.callbacks)
        return self.client.wait_for_reply(
            session_id, turn, send=ops.send_message(session_id, text, options, turn=turn), **wait
        )

    def was_sent(self, session_id: str, turn: TurnKey) -> bool:
        """Whether the session holds our message (``turn``): an earlier try sent it.

        The session's user message count answers "no" without reading the transcript (a turn not
        yet sent, the usual case); only a grown count is looked for in the transcript.
        """
        if not turn.may_be_in(self.get_session(session_id).user_message_count):
            return False
        return find_turn(self.scan_transcript(session_id, turn).messages, turn) is not None

    def find_created_session(self, title: str, sent_at: datetime) -> SessionData | None:
        """The one session titled ``title`` a create sent at ``sent_at`` made (None if none; error if several).

        Sessions created within the client's reconcile window before ``sent_at`` count (``createdAt``
        has second precision and the server's clock).
        """
        return ops.find_created_session(self.list_sessions(), title, sent_at)

    @contextmanager
    def open_export(self, session_id: str) -> Iterator[Iterator[bytes]]:
        """Stream the transcript's raw JSON bytes, for archiving without loading it."""
        with self.client.open_stream(ops.export_session(session_id)) as chunks:
            yield chunks

    def consume_export(self, session_id: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Hand the transcript's raw JSON bytes to ``consume``; a transient failure, even mid-body, retries it.

        ``consume`` is called again from the start on each retry (see
        :meth:`~mix_provider.client.MixClient.consume_stream`).
        """
        return self.client.consume_stream(ops.export_session(session_id), consume)

    # -- Airflow UI ----------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check what a turn needs, each request once within the timeout; ``(ok, message)`` says what was checked.

        The API answers (``GET /health``, with the version), and an LLM provider has credentials
        (``GET /api/auth/status``): the real server answers ``/health`` even without one, and then
        refuses every message with 401. A server without the auth route is reported as not checked.
        """
        try:
            config = dataclasses.replace(self.config, retry=RetryPolicy(max_retries=0))
            with MixClient(config, transport=self._transport) as client:
                health = client.execute(ops.health())
                auth = _auth_status(client) if health.status == "ok" else None
        except MixError as exc:
            return False, f"Mix server unreachable: {exc}"
        server = f"Mix server at {config.base_url}"
        if health.status != "ok":
            return False, f"{server} reports status {health.status!r}"
        answered = f"{server} is ok, version {health.version or 'unknown'}"
        if auth is None:
            return True, f"{answered}; LLM providers not checked (the server has no GET /api/auth/status)"
        configured = auth.configured()
        if not configured:
            return False, (
                f"{answered}, but no LLM provider is configured (GET /api/auth/status): the server would refuse "
                "every message (401). Give it an API key (anthropic, openai or openrouter) and test again"
            )
        return True, f"{answered}; LLM provider configured: {', '.join(configured)}"

    # -- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client, if it was opened."""
        if "client" in self.__dict__:
            self.__dict__.pop("client").close()

    async def aclose(self) -> None:
        """Close both clients, if they were opened."""
        self.close()
        if self._async_client is not None:
            client, self._async_client = self._async_client, None
            await shared.release(client)

    def __enter__(self) -> MixHook:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _auth_status(client: MixClient) -> AuthStatus | None:
    """``GET /api/auth/status``, or None from a server without that route (it answers 404)."""
    try:
        return client.execute(ops.auth_status())
    except MixNotFoundError:
        return None
