"""The options objects of the write calls, the retryability predicate and the failure classification."""

from __future__ import annotations

from typing import Any

import pytest

from mix_provider.client import MessageOptions, SessionSpec
from mix_provider.client.options import check_known
from mix_provider.client.retry import Failure, classify
from mix_provider.errors import (
    MixAPIError,
    MixBadRequestError,
    MixConfigError,
    MixMalformedResponseError,
    MixOutcomeUnknownError,
    MixRateLimitedError,
    MixServerError,
    MixTransportError,
    is_retryable,
)
from mix_provider.models import BrowserMode, Callback, PromptMode, ThinkingLevel


def test_session_spec_is_normalised_once_and_sent_without_nulls() -> None:
    spec = SessionSpec.checked(
        "t",
        browser_mode="remote-cdp-websocket",
        cdp_url="ws://browser:9222",
        prompt_mode="append",
        custom_system_prompt="Be brief.",
        callbacks=[{"type": "bash_script", "toolName": "*", "bashCommand": "echo"}],
    )
    assert spec.browser_mode is BrowserMode.REMOTE_CDP_WEBSOCKET and spec.prompt_mode is PromptMode.APPEND
    assert spec.callbacks == (Callback(type="bash_script", tool_name="*", bash_command="echo"),)
    assert spec.to_wire() == {
        "title": "t",
        "browserMode": "remote-cdp-websocket",
        "cdpUrl": "ws://browser:9222",
        "promptMode": "append",
        "customSystemPrompt": "Be brief.",
        "callbacks": [{"type": "bash_script", "toolName": "*", "bashCommand": "echo"}],
    }
    assert SessionSpec.checked("t").to_wire() == {"title": "t", "browserMode": "local-browser-service"}


def test_message_options_treat_an_empty_level_as_unset() -> None:
    assert MessageOptions.checked(thinking_level="").to_wire() == {}
    options = MessageOptions.checked(plan_mode=False, thinking_level="basic", max_steps=3)
    assert options.thinking_level is ThinkingLevel.BASIC
    assert options.to_wire() == {"plan_mode": False, "thinking_level": "basic", "max_steps": 3}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "t", "browser_mode": "chrome"}, "browser_mode"),
        ({"title": "t", "cdp_url": "ws://x"}, "cdp_url"),
        ({"title": "t", "custom_system_prompt": "p"}, "prompt_mode"),
        ({"title": "t", "callbacks": [{"type": "bash_script"}]}, "callbacks[0].toolName"),
    ],
)
def test_session_spec_names_the_bad_field(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        SessionSpec.checked(**arguments)
    assert info.value.field == field


def test_check_known_skips_only_the_checks_that_read_a_pending_argument() -> None:
    remote = "remote-cdp-websocket"  # the pair check needs the URL: skipped while it is templated
    check_known(SessionSpec.checked, {"title", "cdp_url"}, title="{{ t }}", browser_mode=remote, cdp_url="{{ u }}")
    with pytest.raises(MixConfigError) as info:  # the literal half of a pair is still checked on its own
        check_known(SessionSpec.checked, {"cdp_url"}, title="t", browser_mode="chrome", cdp_url="{{ u }}")
    assert info.value.field == "browser_mode"
    with pytest.raises(MixConfigError) as info:
        check_known(SessionSpec.checked, {"title"}, title="{{ t }}", browser_mode="chrome")
    assert info.value.field == "browser_mode"
    with pytest.raises(MixConfigError) as info:
        check_known(MessageOptions.checked, {"thinking_level"}, thinking_level="{{ l }}", max_steps="{{ s }}")
    assert info.value.field == "max_steps"
    assert SessionSpec.checked("{{ t }}").title == "{{ t }}"  # outside check_known nothing is pending


def _api(status: int) -> MixAPIError:
    return MixAPIError(status, None, "x", "GET", "/p")


@pytest.mark.parametrize(
    ("exc", "retryable", "failure"),
    [
        (MixTransportError("POST", "/p", "reset", sent=False), True, Failure(True)),
        (MixTransportError("POST", "/p", "reset", sent=True), True, Failure(True, maybe_applied=True)),
        (
            MixTransportError("POST", "/p", "read timeout", sent=True, timed_out=True),
            True,
            Failure(True, maybe_applied=True, in_flight=True),
        ),
        (MixOutcomeUnknownError("POST", "/p", "lost", sent=True), False, Failure(False)),
        (_api(408), True, Failure(True)),
        (MixRateLimitedError(429, None, "slow down", "POST", "/p"), True, Failure(True)),
        (MixServerError(500, None, "x", "POST", "/p"), True, Failure(True, maybe_applied=True)),
        (MixServerError(504, None, "x", "POST", "/p"), True, Failure(True, maybe_applied=True, in_flight=True)),
        (MixServerError(501, None, "x", "POST", "/p"), False, Failure(False)),
        (MixBadRequestError(400, "bad_request", "x", "POST", "/p"), False, Failure(False)),
        (MixMalformedResponseError("POST", "/p", 200, "not JSON"), True, Failure(True, maybe_applied=True)),
        (MixConfigError("title", "must not be empty"), False, Failure(False)),
    ],
)
def test_one_predicate_and_one_classification(exc: Exception, retryable: bool, failure: Failure) -> None:
    assert is_retryable(exc) is retryable
    assert classify(exc) == failure
