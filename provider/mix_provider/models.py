"""Pydantic v2 models and enums of the Mix Sessions API.

Parsing is tolerant: unknown fields are ignored and fields the spec calls required but older
servers omit (``browserMode``, ``sessionType``, ...) default to ``None``. Attribute names are
snake_case; the wire names (camelCase) are the aliases.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel


class BrowserMode(str, Enum):
    """How the agent drives a browser."""

    ELECTRON_EMBEDDED_BROWSER = "electron-embedded-browser"
    LOCAL_BROWSER_SERVICE = "local-browser-service"
    REMOTE_CDP_WEBSOCKET = "remote-cdp-websocket"


class PromptMode(str, Enum):
    """How ``custom_system_prompt`` combines with the server's base prompt."""

    DEFAULT = "default"
    APPEND = "append"
    REPLACE = "replace"


class CallbackType(str, Enum):
    """What a session callback runs after a tool completes."""

    BASH_SCRIPT = "bash_script"
    SUB_AGENT = "sub_agent"
    SEND_MESSAGE = "send_message"


class ThinkingLevel(str, Enum):
    """Reasoning effort of a message."""

    OFF = "off"
    BASIC = "basic"
    MEDIUM = "medium"
    MAXIMUM = "maximum"


class FinishReason(str, Enum):
    """Finish reasons seen on assistant messages; fields stay plain strings to accept new ones."""

    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    TOOL_USE = "tool_use"
    CANCELED = "canceled"
    ERROR = "error"
    PERMISSION_DENIED = "permission_denied"
    UNKNOWN = "unknown"


class MixModel(BaseModel):
    """Base of all API models: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Callback(MixModel):
    """A session-level callback run after a tool completes."""

    type: CallbackType
    tool_name: str
    name: str | None = None
    bash_command: str | None = None
    bash_timeout: int | None = None
    exclude_from_context: bool | None = None
    message_content: str | None = None
    sub_agent_prompt: str | None = None
    sub_agent_type: str | None = None
    include_full_history: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body form: camelCase, only the fields that are set."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SessionTotals(MixModel):
    """The counts and usage a session accumulates, as its list entry and its export both report them."""

    user_message_count: int = 0
    assistant_message_count: int = 0
    tool_call_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


class SessionData(SessionTotals):
    """A session as list/get/create/rewind return it."""

    id: str
    title: str = ""
    session_type: str | None = None
    browser_mode: str | None = None
    cdp_url: str | None = None
    callbacks: list[Callback] | None = None
    created_at: datetime | None = None
    first_user_message: str | None = None
    parent_session_id: str | None = None
    parent_tool_call_id: str | None = None
    subagent_type: str | None = None
    model_id: str | None = None
    provider: str | None = None

    @property
    def is_subagent(self) -> bool:
        """Whether this is a sub-agent's session (what ``includeSubagents`` hides from the list)."""
        return self.session_type == "subagent" or bool(self.parent_session_id)

    def summary(self) -> dict[str, Any]:
        """A small JSON-serialisable summary, fit for XCom."""
        return {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "user_message_count": self.user_message_count,
            "assistant_message_count": self.assistant_message_count,
            "tool_call_count": self.tool_call_count,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            **{key: value for key, value in (("model_id", self.model_id), ("provider", self.provider)) if value},
        }


class FileInfo(MixModel):
    """A file of the shared uploads area, as upload and list return it.

    Older servers send no ``url`` and a real ``modified``; newer ones an absolute ``url`` and ``modified: 0``.
    """

    name: str
    size: int = 0
    modified: int = 0
    is_dir: bool = False
    url: str | None = None
    original_name: str | None = None


class ToolCall(MixModel):
    """A tool call as export and messages report it.

    The real server's export gives ``metadata`` as a JSON *string* and ``inputJson`` as the parsed
    input; both are kept as sent.
    """

    id: str
    name: str = ""
    type: str = ""
    input: str = ""
    input_json: Any = None
    finished: bool = False
    result: str | None = None
    metadata: Any = None
    is_error: bool | None = None


class MessageBase(MixModel):
    """The fields every view of an exported message has; ``role`` is ``user``, ``assistant`` or ``tool``."""

    id: str
    role: str
    content: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finish_reason: str | None = None


class ExportMessage(MessageBase):
    """One message of an exported transcript (tool results: the real server's export shows them with
    empty content)."""

    model: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None

    @property
    def tool_call_count(self) -> int:
        """How many tool calls the message made."""
        return len(self.tool_calls or ())


class MessageRecord(MessageBase):
    """The fields of an export message that reply detection reads: its tool calls only counted, its
    content kept only where the reply or our message's fingerprint needs it (else ``""``)."""

    tool_call_count: int = 0


class ExportSession(SessionTotals):
    """A whole transcript: session totals and every message."""

    id: str
    title: str = ""
    messages: list[ExportMessage] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CallbackResult(BaseModel):
    """What one session callback did, stored by the agent in a ``role: tool`` message
    (``callbacks/executor.go`` ``saveCallbackResultMessage``); the spec's ``CallbackResultData``,
    whose keys are snake_case on the wire.

    :param subagent_id: the sub-agent session a ``sub_agent`` callback ran (its parent is the
        session holding this result).
    """

    model_config = ConfigDict(extra="ignore")

    tool_call_id: str
    tool_name: str = ""
    callback_type: str
    callback_name: str | None = None
    success: bool = False
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    subagent_id: str | None = None
    subagent_result: str | None = None
    error: str | None = None
    exclude_from_context: bool | None = None


class BackendMessage(MixModel):
    """A message as ``GET /api/sessions/{id}/messages`` returns it (``callbackResults`` on a
    callback's ``tool`` message; per-message usage only where the server reports it)."""

    id: str
    session_id: str = ""
    role: str = ""
    user_input: str = ""
    assistant_response: str | None = None
    tool_calls: list[ToolCall] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    model: str | None = None
    callback_results: list[CallbackResult] | None = None


class MessageAccepted(MixModel):
    """The 202 (or 200, for slash commands) answer to a sent message."""

    status: str = ""
    session_id: str = ""


class CancelResult(MixModel):
    """The answer to a cancel: the server sends ``status``, the spec says ``cancelled``."""

    status: str | None = None
    session_id: str | None = None
    cancelled: bool | None = None


class PermissionAnswer(MixModel):
    """The answer to ``POST /api/permissions/{id}/grant|deny``: 200 for any id, even one not pending."""

    id: str | None = None
    message: str | None = None
    status: str | None = None


class Health(MixModel):
    """``GET /health``."""

    status: str = ""
    version: str | None = None
    timestamp: str | None = None
    environment: str | None = None


class ProviderAuth(MixModel):
    """One LLM provider in ``GET /api/auth/status`` (snake_case on the wire, unlike the rest)."""

    authenticated: bool = False
    auth_method: str = Field("none", alias="auth_method")
    display_name: str = Field("", alias="display_name")


class AuthStatus(MixModel):
    """``GET /api/auth/status``: which LLM providers have credentials (a turn needs one)."""

    providers: dict[str, ProviderAuth] = Field(default_factory=dict)

    def configured(self) -> list[str]:
        """The authenticated providers, as ``Anthropic (api_key)``, sorted by key."""
        return [
            f"{auth.display_name or key} ({auth.auth_method})"
            for key, auth in sorted(self.providers.items())
            if auth.authenticated
        ]


SESSION_LIST = TypeAdapter(list[SessionData])
FILE_LIST = TypeAdapter(list[FileInfo])
MESSAGE_LIST = TypeAdapter(list[BackendMessage])
