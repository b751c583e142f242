"""Schemathesis runs the Mix OpenAPI spec against a live devserver.

The spec is not part of this repository: ``MIX_OPENAPI_SPEC`` names it (the ``.speakeasy/out.openapi.yaml``
of ``recreate-run/mix-go-sdk`` v0.2.2, which the server's ``GET /doc`` produces); without it the module
is skipped, saying so. ``.ci/run`` sets it when a copy sits beside the repository.

Every operation the devserver implements is fuzzed with positive and negative data and
its responses must conform to the spec, except where the real server differs from its spec
(docs/real-server.md), each excluded below with its reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode

from mix_provider.devserver.testing import MixDevServer

SPEC_VARIABLE = "MIX_OPENAPI_SPEC"
if not os.environ.get(SPEC_VARIABLE):
    pytest.skip(
        f"{SPEC_VARIABLE} is not set: to check the local server against the Mix OpenAPI spec, run "
        f"{SPEC_VARIABLE}=/path/to/openapi.yaml pytest tests/devserver/test_schemathesis.py "
        "(the spec of recreate-run/mix-go-sdk v0.2.2, .speakeasy/out.openapi.yaml)",
        allow_module_level=True,
    )
SPEC = Path(os.environ[SPEC_VARIABLE])
if not SPEC.is_file():  # a spec named but missing is a failure to see, not a skip
    pytest.fail(f"{SPEC_VARIABLE}={SPEC}: no such file", pytrace=False)

IMPLEMENTED = [
    "listSessions",
    "createSession",
    "getSession",
    "deleteSession",
    "updateSessionCallbacks",
    "exportSession",
    "rewindSession",
    "getSessionMessages",
    "getMessageHistory",
    "sendMessage",
    "cancelSessionProcessing",
    "healthCheck",
    "getAuthStatus",
    "grantPermission",
    "denyPermission",
    "respondToNotification",
    "listSessionFiles",
    "uploadSessionFile",
    "getSessionFile",
    "deleteSessionFile",
]
NOT_RUN = {
    "streamEvents": "an SSE stream never ends, so schemathesis cannot validate it; "
    "test_sdk_protocol.py and test_agent.py check its events instead",
}
"""Implemented operations schemathesis does not run, with the reason."""

NOT_IMPLEMENTED = (
    "auth (api-key, oauth, validate), commands, mcp, "
    "preferences, system/info, tools, health/auth, "
    "internal/auth/refresh-tokens: outside the devserver's scope (see docs/devserver.md); "
    "they answer 404 with the error envelope"
)
MAX_EXAMPLES = 10
EXCLUDED_CHECKS = {
    "positive_data_acceptance": "docs/real-server.md: the server applies rules the schema cannot express and answers "
    "them with a documented 400 (empty title, remote-cdp-websocket without a ws:// cdpUrl, a callback "
    "missing its type's field, an empty text, an empty messageId)",
}
"""Checks skipped for every operation, with the reason."""


NEGATABLE = ("listSessions", "createSession", "updateSessionCallbacks", "rewindSession", "sendMessage")
"""Operations with something schemathesis can negate (a body or a typed parameter); the others
only take free-form strings, so negative generation is unsatisfiable for them."""


def _spec_versus_server(case: Any, response: httpx.Response) -> str | None:
    """Return why a non-conforming response is the real server's documented behaviour, if it is."""
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id == "respondToNotification" and response.status_code == 404:
        return (
            "rest_system.go HandleNotificationRespond answers an id that is not pending with Go's "
            "plain-text http.Error 404, not the ErrorResponse JSON the spec lists"
        )
    if operation_id == "respondToNotification" and response.status_code == 400:
        return (
            "HandleNotificationRespond decodes the body into a map[string]string, so the extra non-string "
            "properties the spec allows are a 400 validation_error (the spec documents no 400)"
        )
    files = ("listSessionFiles", "uploadSessionFile", "getSessionFile", "deleteSessionFile")
    if operation_id in files and response.status_code == 400 and "'id'" in response.text:
        return (
            "rest_files.go and session_asset_server.go check ValidateSessionID (a UUID) first and answer "
            "a 400 validation_error the spec does not list for list and get"
        )
    if operation_id == "getSessionFile" and response.status_code in (400, 500) and case.query.get("thumb"):
        return (
            "session_asset_server.go answers a thumbnail of a file that is neither image nor video (400) or a "
            "failed thumbnail (500, e.g. a size outside 16..1024) with Go's plain-text http.Error"
        )
    flag = (case.query or {}).get("includeSubagents", False)
    if operation_id == "listSessions" and flag not in (True, False, "true", "false"):
        return (
            "the spec documents no 400 for listSessions, so a non-boolean includeSubagents cannot be "
            "rejected conformingly: the devserver reads it as false"
        )
    body = case.body if isinstance(case.body, dict) else None
    if operation_id == "createSession" and response.status_code == 201 and body and not body.get("browserMode"):
        return (
            "more lenient than the spec, like the real server: an omitted or empty browserMode becomes "
            "local-browser-service (the real integration tests create sessions with only a title)"
        )
    if operation_id != "sendMessage":
        return None
    text = body.get("text") if body else None
    if response.status_code == 200 and isinstance(text, str) and text.startswith("/"):
        return "docs/real-server.md: a text starting with '/' is a slash command answered 200 at once (spec lists 202 only)"
    return None


@pytest.fixture(scope="module")
def schema() -> Any:
    """The Mix spec loaded by schemathesis."""
    return schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def live_session(mix_server: MixDevServer) -> str:
    """A session with one finished exchange, used for half of the ``{id}`` examples."""
    session = httpx.post(
        f"{mix_server.base_url}/api/sessions", json={"title": "fuzz", "browserMode": "local-browser-service"}
    ).json()
    return str(session["id"])


def test_unimplemented_operations_are_listed(schema: Any) -> None:
    operation_ids = {result.ok().definition.raw.get("operationId") for result in schema.get_all_operations()}
    assert set(IMPLEMENTED) | set(NOT_RUN) <= operation_ids
    assert NOT_IMPLEMENTED


CASES = [(GenerationMode.POSITIVE, op) for op in IMPLEMENTED] + [
    (GenerationMode.NEGATIVE, op) for op in IMPLEMENTED if op in NEGATABLE
]


@pytest.mark.parametrize(("mode", "operation_id"), CASES)
def test_operation_conforms(
    schema: Any, mix_server: MixDevServer, live_session: str, operation_id: str, mode: GenerationMode
) -> None:
    operation = schema.find_operation_by_id(operation_id)
    has_id = "{id}" in operation.path

    @given(case=operation.as_strategy(generation_mode=mode), use_live=st.booleans())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any, use_live: bool) -> None:
        if has_id and use_live and mode is GenerationMode.POSITIVE:
            case.path_parameters["id"] = live_session
            if operation_id == "deleteSession":
                case.path_parameters["id"] = _new_session(mix_server.base_url)
        response = case.call(base_url=mix_server.base_url, timeout=30)
        if _spec_versus_server(case, response) is None:
            case.validate_response(response, excluded_checks=[getattr(checks, name) for name in EXCLUDED_CHECKS])

    run()


def _new_session(base_url: str) -> str:
    """Create a throwaway session (deleted by the test)."""
    body = {"title": "to delete", "browserMode": "local-browser-service"}
    return str(httpx.post(f"{base_url}/api/sessions", json=body).json()["id"])
