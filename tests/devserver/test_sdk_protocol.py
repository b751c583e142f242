"""The official ``mix-python-sdk`` drives the devserver: every implemented operation."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from mix_python_sdk import Mix, errors

from mix_provider.devserver.testing import MixDevServer


@pytest.fixture
def sdk(mix_server: MixDevServer) -> Mix:
    """An SDK client without retries (errors surface at once)."""
    from mix_python_sdk.utils import RetryConfig

    return Mix(server_url=mix_server.base_url, retry_config=RetryConfig("none", None, False))


def _stream_reply(sdk: Mix, session_id: str, text: str) -> list[Any]:
    """Open the SDK's stream, wait for ``connected``, send ``text``, return events to the final one."""
    response = sdk.streaming.stream_events(session_id=session_id)
    events = []
    with response.result as stream:
        for event in stream:
            if event.event == "connected":
                threading.Thread(target=sdk.messages.send, kwargs={"id": session_id, "text": text}).start()
                continue
            events.append(event)
            if event.event == "complete" and not getattr(event.data, "parent_tool_call_id", None):
                break
    return events


def test_session_lifecycle(sdk: Mix) -> None:
    created = sdk.sessions.create(title="sdk lifecycle", browser_mode="local-browser-service")
    assert created.title == "sdk lifecycle" and created.session_type == "main"
    assert created.browser_mode == "local-browser-service"
    assert any(s.id == created.id for s in sdk.sessions.list())
    assert sdk.sessions.get(id=created.id).id == created.id
    updated = sdk.sessions.update_session_callbacks(
        id=created.id, callbacks=[{"type": "bash_script", "tool_name": "*", "bash_command": "echo hi"}]
    )
    assert updated.callbacks is not None and updated.callbacks[0].bash_command == "echo hi"
    sdk.sessions.delete(id=created.id)
    with pytest.raises(errors.ErrorResponse) as caught:
        sdk.sessions.get(id=created.id)
    assert caught.value.data.error.code == 404


def test_send_stream_export_rewind(sdk: Mix) -> None:
    session = sdk.sessions.create(title="sdk chat", browser_mode="local-browser-service")
    events = _stream_reply(sdk, session.id, "hello sdk [[tool]]")
    names = [event.event for event in events]
    assert names[0] == "user_message_created" and names[-1] == "complete"
    assert {"thinking", "content", "tool_use_start", "tool_execution_complete"} <= set(names)
    messages = sdk.messages.list_session(id=session.id)
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[3].assistant_response == "You said: hello sdk"
    exported = sdk.sessions.export_session(id=session.id)
    assert exported.headers["content-disposition"] == [f"attachment; filename=session_{session.id}_transcript.json"]
    assert exported.result.messages[1].tool_calls[0].name == "Bash"
    assert sdk.sessions.get(id=session.id).tool_call_count == 1
    rewound = sdk.sessions.rewind_session(id=session.id, message_id=messages[0].id, cleanup_media=False)
    assert rewound.assistant_message_count == 0 and rewound.user_message_count == 1
    assert rewound.browser_mode == "local-browser-service"


def test_cancel_and_health(sdk: Mix) -> None:
    session = sdk.sessions.create(title="sdk cancel", browser_mode="local-browser-service")
    sdk.messages.send(id=session.id, text="slow [[delay:5000]]")
    sdk.sessions.cancel_processing(id=session.id)
    last = sdk.messages.list_session(id=session.id)[-1]
    assert last.role == "assistant"
    exported = sdk.sessions.export_session(id=session.id).result
    assert exported.messages[-1].finish_reason == "canceled"
    assert sdk.system.get_health().status == "ok"


def test_errors_map_to_sdk_types(sdk: Mix) -> None:
    with pytest.raises(errors.ErrorResponse) as not_found:
        sdk.sessions.get(id="no-such-session")
    assert not_found.value.data.error.type == "not_found"
    with pytest.raises(errors.ErrorResponse) as invalid:
        sdk.sessions.create(title="", browser_mode="local-browser-service")
    assert invalid.value.data.error.type == "validation_error"
    assert json.loads(invalid.value.body)["error"]["message"] == "Validation error for field 'title': title is required"


def test_unauthorized_without_credentials(tmp_path: Any) -> None:
    with MixDevServer(tmp_path, extra_args=["--no-llm-credentials"]) as server:
        sdk = Mix(server_url=server.base_url)
        session = sdk.sessions.create(title="no llm", browser_mode="local-browser-service")
        with pytest.raises(errors.MixError) as caught:
            sdk.messages.send(id=session.id, text="hello")
        assert caught.value.status_code == 401
        assert json.loads(caught.value.body)["error"]["type"] == "unauthorized"


def test_permission_and_question_answered_through_the_sdk(sdk: Mix) -> None:
    """The SDK parses the ``permission`` and ``notification`` events and the grant/respond answers
    (``rest_system.go``); a response to an answered notification is Go's plain-text 404, which
    the SDK reports as ``MixDefaultError`` (not ``ErrorResponse``: there is no JSON envelope)."""
    session = sdk.sessions.create(title="sdk asks", browser_mode="local-browser-service")
    text = "ask [[permission:bash:make]] [[question:Ship?|yes,no|timeout=10]]"
    response = sdk.streaming.stream_events(session_id=session.id)
    answered: list[str] = []
    with response.result as stream:
        for event in stream:
            if event.event == "connected":
                threading.Thread(target=sdk.messages.send, kwargs={"id": session.id, "text": text}).start()
            elif event.event == "permission":
                assert (event.data.tool_name, event.data.action) == ("bash", "Execute command: make")
                assert sdk.permissions.grant(id=event.data.id) is not None
            elif event.event == "notification":
                assert (event.data.notification_type, event.data.choices) == ("question", ["yes", "no"])
                sdk.notifications.respond_to_notification(id=event.data.id, type_="choice", value="no")
                answered.append(event.data.id)
            elif event.event == "complete" and not getattr(event.data, "parent_tool_call_id", None):
                assert event.data.content == "You said: ask\npermission granted: bash\nanswered: no"
                break
    with pytest.raises(errors.MixDefaultError) as caught:
        sdk.notifications.respond_to_notification(id=answered[0], type_="choice", value="yes")
    assert caught.value.status_code == 404


def test_session_files_through_the_sdk(sdk: Mix) -> None:
    session = sdk.sessions.create(title="sdk files", browser_mode="local-browser-service")
    info = sdk.files.upload_session_file(
        id=session.id,
        file={"file_name": "sdk report.v1.pdf", "content": b"%PDF-1.4 sdk", "content_type": "application/pdf"},
    )
    assert (info.name, info.size, info.is_dir) == ("sdk_report_v1.pdf", 12, False)
    assert info.url.endswith(f"/api/sessions/{session.id}/files/sdk_report_v1.pdf")
    assert "sdk_report_v1.pdf" in [f.name for f in sdk.files.list_session_files(id=session.id)]
    assert sdk.files.get_session_file(id=session.id, filename="sdk_report_v1.pdf").read() == b"%PDF-1.4 sdk"
    sdk.files.delete_session_file(id=session.id, filename="sdk_report_v1.pdf")
    with pytest.raises(errors.ErrorResponse) as caught:
        sdk.files.delete_session_file(id=session.id, filename="sdk_report_v1.pdf")
    assert caught.value.data.error.code == 404
