"""Operators for the session endpoints: create, get, list, delete, update callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any

from mix_provider.client import SessionSpec
from mix_provider.client.options import check_known
from mix_provider.client.validation import CallbackLike, check_callbacks, optional_text, require_bool, require_id
from mix_provider.errors import MixNotFoundError
from mix_provider.models import BrowserMode, PromptMode, SessionData
from mix_provider.operators._listing import check_on_incomplete, looked_up, settle, wanted
from mix_provider.operators._renamed import renamed
from mix_provider.operators._state import TaskState
from mix_provider.operators._window import as_datetime, created_within
from mix_provider.operators.base import MixBaseOperator
from mix_provider.templating import check_literal, template_safe

CallbackSpec = Sequence[CallbackLike]
#: The arguments of ``MixCreateSessionOperator`` that make its :class:`~mix_provider.client.SessionSpec`.
SPEC_FIELDS = (
    "title",
    "browser_mode",
    "cdp_url",
    "custom_system_prompt",
    "prompt_mode",
    "callbacks",
    "model_id",
    "provider",
)


class MixCreateSessionOperator(MixBaseOperator):
    """Create a Mix session; returns its id and pushes its summary as XCom ``session``.

    A retried try returns the session an earlier try created (Airflow >= 3.3), and a create whose
    answer was lost is reconciled by title and creation time: never a duplicate session. With
    ``[mix] session_ledger`` set the session is recorded there (an archive finds it even while it holds
    no message); a record that failed after the create is logged and named in the summary's
    ``ledger_error``, and the task still succeeds.

    :param title: session title (templated).
    :param browser_mode: ``electron-embedded-browser``, ``local-browser-service`` or ``remote-cdp-websocket``.
    :param cdp_url: ``ws://`` or ``wss://`` URL, required with ``remote-cdp-websocket``.
    :param custom_system_prompt: extra or replacement system prompt (templated).
    :param prompt_mode: ``default``, ``append`` (<= 50 KiB prompt) or ``replace`` (<= 100 KiB).
    :param callbacks: session callbacks (dicts or :class:`~mix_provider.models.Callback`; templated).
    :param model_id: the session's model, e.g. ``gemini-3-flash-preview`` (templated; empty or None: the
        server's default). Sent only when set: a server that predates it raises
        :class:`~mix_provider.errors.MixUnsupportedFieldError`.
    :param provider: the LLM provider owning ``model_id`` (``anthropic``, ``openai``, ``gemini``...),
        required with it (templated).
    """

    template_fields: Sequence[str] = ("mix_conn_id", *SPEC_FIELDS)
    template_fields_renderers = {"callbacks": "json", "custom_system_prompt": "md"}

    def __init__(
        self,
        *,
        title: str,
        browser_mode: BrowserMode | str = BrowserMode.LOCAL_BROWSER_SERVICE,
        cdp_url: str | None = None,
        custom_system_prompt: str | None = None,
        prompt_mode: PromptMode | str | None = None,
        callbacks: CallbackSpec | None = None,
        model_id: str | None = None,
        provider: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.model_id = model_id
        self.provider = provider
        self.browser_mode = template_safe(browser_mode)
        self.cdp_url = cdp_url
        self.custom_system_prompt = custom_system_prompt
        self.prompt_mode = template_safe(prompt_mode)
        self.callbacks = callbacks
        check_known(SessionSpec.checked, self.pending_fields(), **self._spec_arguments())

    def _spec_arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SPEC_FIELDS}

    def execute(self, context: Any) -> str:
        """Validate, then create (or re-attach to) the session."""
        spec = SessionSpec.checked(**self._spec_arguments())
        state = TaskState(context, "mix_created_session")
        session = self._reattach(state.get())
        if session is None:
            state.set({"title": spec.title, "since": datetime.now(timezone.utc).isoformat()})
            session = self.hook.create_session(spec)
            state.set({"session_id": session.id})
        summary = session.summary()
        if session.id in self.hook.unrecorded:
            summary["ledger_error"] = self.hook.unrecorded[session.id]
        context["ti"].xcom_push(key="session", value=summary)
        state.clear()
        self.log.info("Mix session %s (%r) ready", session.id, session.title)
        return session.id

    def _reattach(self, saved: dict[str, Any] | None) -> SessionData | None:
        if not saved:
            return None
        if "session_id" in saved:
            try:
                session = self.hook.get_session(saved["session_id"])
            except MixNotFoundError:
                self.log.warning("Session %s of an earlier try is gone; creating a new one", saved["session_id"])
                return None
            self.log.info("Re-attached to session %s created by an earlier try", session.id)
            return session
        found = self.hook.find_created_session(saved["title"], datetime.fromisoformat(saved["since"]))
        if found is not None:
            self.log.info("An earlier try created session %s before it died; re-attached", found.id)
            self.hook.record_session(found)  # the earlier try may have died before recording it
        return found


class MixGetSessionOperator(MixBaseOperator):
    """Return a session's summary (ids, counts, tokens, cost).

    :param session_id: the session (templated).
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id")

    def __init__(self, *, session_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        check_literal(partial(require_id, "session_id"), session_id)

    def execute(self, context: Any) -> dict[str, Any]:
        """Fetch the session."""
        return self.hook.get_session(require_id("session_id", self.session_id)).summary()


class MixListSessionsOperator(MixBaseOperator):
    """List every session, filtered client-side; returns ids by default, ready for ``.expand(session_id=...)``.

    A server that lists only its newest twenty sessions (without counts) is detected, and the others
    are found through its message history and the session ledger (``[mix] session_ledger``), and read
    one by one (:mod:`mix_provider.client.inventory`); sessions it cannot find that way (no history
    endpoint) are named: the task fails, or warns with ``on_incomplete='warn'``. A session beyond the
    newest twenty that holds no message is found only through the ledger; the task logs that such
    sessions may be missing.

    :param include_subagents: include subagent sessions.
    :param created_after: keep sessions created at or after this time (datetime or ISO 8601; templated).
    :param created_before: keep sessions created before this time (templated).
    :param title_contains: keep sessions whose title contains this text, case-insensitively (templated).
    :param return_ids: return ids (default) or session summaries.
    :param on_incomplete: ``fail`` (default) or ``warn`` when not every session could be listed.
    """

    template_fields: Sequence[str] = ("mix_conn_id", "created_after", "created_before", "title_contains")

    def __init__(
        self,
        *,
        include_subagents: bool = False,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        title_contains: str | None = None,
        return_ids: bool = True,
        on_incomplete: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.include_subagents = require_bool("include_subagents", include_subagents)
        self.on_incomplete = check_on_incomplete(on_incomplete)
        self.created_after = created_after
        self.created_before = created_before
        self.title_contains = title_contains
        self.return_ids = require_bool("return_ids", return_ids)
        check_literal(partial(as_datetime, "created_after"), created_after)
        check_literal(partial(as_datetime, "created_before"), created_before)
        check_literal(partial(optional_text, "title_contains"), title_contains)

    def execute(self, context: Any) -> list[Any]:
        """List, filter, and return ids or summaries."""
        after = as_datetime("created_after", self.created_after)
        before = as_datetime("created_before", self.created_before)
        needle = (optional_text("title_contains", self.title_contains) or "").casefold()
        listing = self.hook.survey_sessions(include_subagents=self.include_subagents)
        settle(listing, self.on_incomplete, self.log)
        beyond = looked_up(self.hook, listing.beyond)
        found = [*listing.listed, *(s for s in beyond if wanted(s, self.include_subagents, after, before))]
        sessions = [s for s in found if needle in s.title.casefold() and created_within(s.created_at, after, before)]
        self.log.info("%d Mix sessions match (%d found beyond the list)", len(sessions), len(listing.beyond))
        return [s.id if self.return_ids else s.summary() for s in sessions]


class MixDeleteSessionOperator(MixBaseOperator):
    """Delete a session and its storage; returns whether it existed.

    :param session_id: the session (templated).
    :param ignore_missing: treat an already-deleted session as success.
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id")

    def __init__(self, *, session_id: str, ignore_missing: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.ignore_missing = require_bool("ignore_missing", ignore_missing)
        check_literal(partial(require_id, "session_id"), session_id)

    def execute(self, context: Any) -> bool:
        """Delete."""
        try:
            self.hook.delete_session(require_id("session_id", self.session_id))
        except MixNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Mix session %s was already deleted", self.session_id)
            return False
        return True


class MixUpdateSessionCallbacksOperator(MixBaseOperator):
    """Replace a session's callbacks (``[]`` clears them); returns the session summary and callback count.

    :param session_id: the session (templated).
    :param callbacks: the new callbacks (templated).
    """

    template_fields: Sequence[str] = ("mix_conn_id", "session_id", "callbacks")
    template_fields_renderers = {"callbacks": "json"}

    def __init__(self, *, session_id: str, callbacks: CallbackSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.callbacks = callbacks
        check_literal(partial(require_id, "session_id"), session_id)
        check_literal(check_callbacks, callbacks)

    def execute(self, context: Any) -> dict[str, Any]:
        """Validate every callback, then replace the list."""
        callbacks = check_callbacks(self.callbacks)
        session = self.hook.update_callbacks(require_id("session_id", self.session_id), callbacks)
        return {**session.summary(), "callbacks": len(session.callbacks or [])}


__getattr__ = renamed(
    __name__,
    MixCreateSessionOperator,
    MixGetSessionOperator,
    MixListSessionsOperator,
    MixDeleteSessionOperator,
    MixUpdateSessionCallbacksOperator,
)
