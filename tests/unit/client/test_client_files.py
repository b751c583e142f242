"""File calls, the model fields of a new session and the escape hatch, at the transport (sync and async)."""

from __future__ import annotations

import io

import httpx
import pytest
from mix_fake import FakeMix, Runner, answer, error, fail, session_json

from mix_provider.client import SessionSpec
from mix_provider.client import operations as ops
from mix_provider.client.files import (
    MAX_UPLOAD_BYTES,
    ReferenceScanner,
    delete_file,
    download_file,
    list_files,
    referenced_files,
    stored_name,
    upload_file,
)
from mix_provider.client.operations import Upload
from mix_provider.errors import (
    MixBadRequestError,
    MixConfigError,
    MixFileTooLargeError,
    MixOutcomeUnknownError,
    MixUnsupportedFieldError,
)

SID = "0b9f6f2e-1c1d-4d52-9a57-1f7c2c0f1a11"
FILES = f"/api/sessions/{SID}/files"
DATA = b"%PDF-1.4 " + b"x" * 1000


def _upload(name: str = "my report.pdf", data: bytes = DATA) -> Upload:
    return Upload("file", name, len(data), lambda: io.BytesIO(data), "application/pdf")


def _info(name: str, size: int) -> dict[str, object]:
    return {"name": name, "size": size, "modified": 0, "isDir": False, "url": f"http://mix.test{FILES}/{name}"}


def test_upload_streams_a_multipart_file(fake: FakeMix, run: Runner) -> None:
    fake.on(
        "POST", f"{FILES}/upload", answer(201, {**_info("my_report.pdf", len(DATA)), "originalName": "my report.pdf"})
    )
    info = run(upload_file(SID, _upload()))
    assert (info.name, info.size, info.original_name) == ("my_report.pdf", len(DATA), "my report.pdf")
    sent = fake.sent("POST", f"{FILES}/upload")[0]
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="my report.pdf"' in sent.content and DATA in sent.content


def test_lost_upload_answer_found_by_listing(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", f"{FILES}/upload", fail(httpx.RemoteProtocolError))
    fake.on("GET", FILES, answer(200, [_info("other.pdf", 3), _info("my_report.pdf", len(DATA))]))
    assert run(upload_file(SID, _upload())).name == "my_report.pdf"
    assert len(fake.sent("POST", f"{FILES}/upload")) == 1


def test_lost_upload_answer_not_found_is_sent_again(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", f"{FILES}/upload", fail(httpx.RemoteProtocolError), answer(201, _info("my_report.pdf", len(DATA))))
    fake.on("GET", FILES, answer(200, [_info("my_report.pdf", 12)]))  # same name, another size: not ours
    assert run(upload_file(SID, _upload())).size == len(DATA)
    assert len(fake.sent("POST", f"{FILES}/upload")) == 2


def test_timed_out_upload_not_listed_is_not_resent(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("POST", f"{FILES}/upload", fail(httpx.ReadTimeout))
    fake.on("GET", FILES, answer(200, []))
    with pytest.raises(MixOutcomeUnknownError):
        run(upload_file(SID, _upload()))
    assert len(fake.sent("POST", f"{FILES}/upload")) == 1


def test_oversized_upload_is_refused_before_sending() -> None:
    big = Upload("file", "big.bin", MAX_UPLOAD_BYTES + 1, lambda: io.BytesIO(b""))
    with pytest.raises(MixFileTooLargeError) as info:
        upload_file(SID, big)
    assert (info.value.field, info.value.limit) == ("source", MAX_UPLOAD_BYTES)
    upload_file(SID, big, limit=MAX_UPLOAD_BYTES + 1)  # a caller may raise the limit


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("a b.c.pdf", "a_b_c.pdf"),
        ("dir/x  y.png", "x_y.png"),
        (".env", ".env"),
        ("noext", "noext"),
        ("a\u202fb.jpg", "a_b.jpg"),
    ],
)
def test_stored_name_follows_sanitize_filename(name: str, stored: str) -> None:
    assert stored_name(name) == stored


def test_download_delete_and_list_calls(fake: FakeMix, run: Runner) -> None:
    fake.on("GET", f"{FILES}/a b.png", answer(200, b"\x89PNG"))
    fake.on("DELETE", f"{FILES}/x.pdf", answer(204))
    fake.on("GET", FILES, answer(200, [_info("x.pdf", 1)]))
    assert run(download_file(SID, "a b.png", thumb="w100", time=2)) is None
    sent = fake.sent("GET", f"{FILES}/a b.png")[0]
    assert sent.url.raw_path.endswith(b"/a%20b.png?thumb=w100&time=2.0")
    assert run(delete_file(SID, "x.pdf")) is None
    assert [f.name for f in run(list_files(SID))] == ["x.pdf"]


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"name": "../x"}, "name"), ({"thumb": "big"}, "thumb"), ({"time": -1}, "time")]
)
def test_bad_download_arguments(kwargs: dict[str, object], field: str) -> None:
    name = str(kwargs.pop("name", "x.png"))
    with pytest.raises(MixConfigError) as info:
        download_file(SID, name, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_reference_scanner_across_chunks() -> None:
    other = "11111111-1c1d-4d52-9a57-1f7c2c0f1a11"
    transcript = (
        f'{{"content":"see ![c](/api/sessions/{SID}/files/chart.png). and http://h:1/api/sessions/{SID}/files/r%20q.pdf\\n",'
        f'"input":"{{\\"path\\": \\"/api/sessions/{SID}/files/chart.png\\"}}", "x": "/api/sessions/{other}/files/no.png",'
        f'"y": "/api/sessions/{SID}/files/last.csv"}}'
    ).encode()
    expected = ["chart.png", "r q.pdf", "last.csv"]
    for size in (1, 7, 64, len(transcript)):
        assert referenced_files(SID, [transcript[i : i + size] for i in range(0, len(transcript), size)]) == expected
    scanner = ReferenceScanner(SID)
    scanner.feed(b"x" * 100_000)
    assert scanner.finish() == []


def test_model_fields_sent_only_when_set(fake: FakeMix, run: Runner) -> None:
    fake.on("POST", "/api/sessions", answer(201, {**session_json(SID), "modelId": "m-1", "provider": "gemini"}))
    created = run(ops.create_session(SessionSpec.checked("t", model_id="m-1", provider="gemini")))
    assert (created.model_id, created.provider) == ("m-1", "gemini")
    assert created.summary()["model_id"] == "m-1"
    run(ops.create_session(SessionSpec.checked("t", model_id="", provider="")))
    first, second = fake.bodies("POST", "/api/sessions")
    assert (first["modelId"], first["provider"]) == ("m-1", "gemini")
    assert "modelId" not in second and "provider" not in second
    with pytest.raises(MixConfigError, match="provider"):
        SessionSpec.checked("t", model_id="m-1")


def test_older_server_refusing_model_fields_names_them(fake: FakeMix, run: Runner) -> None:
    refusal = "Validation error for field 'body': json: unknown field \"modelId\""
    fake.on("POST", "/api/sessions", error(400, "validation_error", refusal))
    with pytest.raises(MixUnsupportedFieldError) as info:
        run(ops.create_session(SessionSpec.checked("t", model_id="m-1", provider="gemini")))
    assert info.value.fields == ("modelId", "provider") and "modelId, provider" in str(info.value)
    with pytest.raises(MixBadRequestError) as plain:
        run(ops.create_session("t"))
    assert not isinstance(plain.value, MixUnsupportedFieldError)


def test_raw_request(fake: FakeMix, run: Runner, waits: list[float]) -> None:
    fake.on("GET", "/api/tools/status", answer(200, {"ok": True}))
    fake.on("POST", "/api/sessions/x/fork", fail(httpx.RemoteProtocolError), answer(201, {"id": "y"}))
    fake.on("GET", "/doc", answer(200, b"<html>docs</html>"))
    assert run(ops.raw_request("GET", "/api/tools/status", params={"a": "1"})) == {"ok": True}
    assert run(ops.raw_request("GET", "/doc")) == "<html>docs</html>"
    with pytest.raises(MixOutcomeUnknownError):
        run(ops.raw_request("POST", "/api/sessions/x/fork", json_body={"messageIndex": 1}))
    assert run(ops.raw_request("POST", "/api/sessions/x/fork", json_body={}, idempotent=True)) == {"id": "y"}


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "https://evil/api", "path"),
        ("GET", "//evil/api", "path"),
        ("BREW", "/x", "method"),
        ("GET", "x", "path"),
    ],
)
def test_raw_request_refuses_urls_and_unknown_methods(method: str, path: str, field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        ops.raw_request(method, path)
    assert info.value.field == field


def test_raw_request_carries_the_connection_auth(fake: FakeMix, run: Runner) -> None:
    from mix_provider.client import ClientConfig, RetryPolicy

    fake.on("GET", "/api/tools/status", answer(200, {"ok": True}))
    cfg = ClientConfig("http://mix.test:8088", token="s3cret-token", retry=RetryPolicy(max_retries=0))
    assert run(ops.raw_request("GET", "/api/tools/status"), cfg) == {"ok": True}
    assert fake.sent("GET", "/api/tools/status")[0].headers["authorization"] == "Bearer s3cret-token"
