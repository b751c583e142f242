"""Secrets of a ``mix`` connection (the token and an extra header) never leave it, even when the
server echoes them back in its errors; TLS certificates are verified unless the connection says not to.

The DAG runs through ``dag.test()`` with Airflow's masked task logging, against the local server with
faults whose error messages repeat the request's headers (a misbehaving proxy).
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import secrets
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mix_provider.client import AsyncMixClient, ClientConfig, RetryPolicy, TurnKey
from mix_provider.client import operations as ops
from mix_provider.errors import MixTransportError
from mix_provider.hooks.mix import MixHook
from mix_provider.operators.export import MixExportSessionOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixListSessionsOperator
from mix_provider.triggers.message import MixMessageTrigger
from support.fakes import define_conn
from support.integration import states, xcom

pytestmark = pytest.mark.integration

#: Made at run time, so the DAG's source (stored by Airflow in ``dag_code``) does not hold them.
TOKEN = f"tok-{secrets.token_hex(10)}"
HEADER_VALUE = f"hdr-{secrets.token_hex(10)}"
SECRETS = (TOKEN, HEADER_VALUE)
CONN = "mix_secure"


def leaks(text: object) -> list[str]:
    """The secrets found in ``text``."""
    return [secret for secret in SECRETS if secret in str(text)]


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc``, its cause and context, and theirs."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.fixture
def secure_conn(fresh_mix_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection to a private server carrying both secrets; one fast retry."""
    extra = {"headers": {"X-Api-Key": HEADER_VALUE}, "max_retries": 1, "retry_max_wait": 0}
    conn = {"conn_type": "mix", "host": fresh_mix_server.base_url, "password": TOKEN, "extra": extra}
    define_conn(monkeypatch, CONN, **conn)
    return CONN


def _db_rows(home: Path, sql: str, *args: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(home / "airflow.db")) as db:
        return list(db.execute(sql, args))


def test_secrets_stay_out_of_everything(
    run_dag: Any,
    airflow_db: Path,
    fresh_mix_server: Any,
    secure_conn: str,
    masked_logging: None,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    uid = uuid.uuid4().hex[:10]
    failures: list[BaseException] = []
    # A lost send answer echoing the headers (retried and reconciled), and a listing that always fails with the echo.
    fresh_mix_server.add_fault("status", method="POST", path="/api/sessions/.+/messages", status=503, echo_headers=True)
    fresh_mix_server.add_fault("status", method="GET", path="/api/sessions", status=502, count=10, echo_headers=True)
    with DAG(f"secure_{uid}", schedule=None, start_date=dt.datetime(2026, 1, 1), params={"who": "Ada"}) as dag:
        create = MixCreateSessionOperator(task_id="create", title="secure {{ params.who }} " + uid, mix_conn_id=CONN)
        send = MixSendMessageOperator(
            task_id="send",
            session_id=create.output,
            text="hello {{ params.who }}",
            deferrable=True,
            poll_interval=0.1,
            mix_conn_id=CONN,
        )
        export = MixExportSessionOperator(
            task_id="export",
            session_id=create.output,
            output_path=f"file://{tmp_path}/transcript.json",
            mix_conn_id=CONN,
        )
        listing = MixListSessionsOperator(
            task_id="list", mix_conn_id=CONN, on_failure_callback=lambda ctx: failures.append(ctx["exception"])
        )
        create >> send >> export >> listing
    dr = run_dag(dag)
    out, err = capfd.readouterr()

    assert states(dr) == {"create": "success", "send": "success", "export": "success", "list": "failed"}
    assert xcom(dr, "send")["reply"] == "You said: hello Ada"
    # The echo happened and reached logs and errors, redacted.
    assert "Injected fault: HTTP 503 for a request with" in out
    assert "authorization: Bearer ***" in out and "x-api-key: ***" in out
    assert leaks(out) == [] and leaks(err) == []

    [failure] = failures
    assert "502" in str(failure) and "authorization: Bearer ***" in str(failure)
    for exc in exception_chain(failure):
        assert leaks(str(exc)) == leaks(repr(exc)) == leaks(exc.args) == []

    home = airflow_db
    rendered = _db_rows(
        home, "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ?", dag.dag_id
    )
    assert {task for task, _ in rendered} == {"create", "send", "export", "list"}
    assert "secure Ada" in str(rendered) and leaks(rendered) == []
    xcoms = _db_rows(home, "SELECT task_id, key, value FROM xcom WHERE dag_id = ?", dag.dag_id)
    assert {task for task, *_ in xcoms} >= {"create", "send", "export"} and leaks(xcoms) == []
    for table in _db_rows(home, "SELECT name FROM sqlite_master WHERE type = 'table'"):
        assert leaks(_db_rows(home, f'SELECT * FROM "{table[0]}"')) == [], f"a secret is stored in {table[0]}"
    assert leaks(b"".join(p.read_bytes() for p in tmp_path.glob("*.json"))) == []

    session_id = xcom(dr, "create")
    turn = TurnKey.of(0, "the prompt text stays out of the trigger table").to_json()
    trigger = MixMessageTrigger(session_id, {"user_messages": 0}, time.time() + 60, CONN, turn=turn)
    classpath, kwargs = trigger.serialize()
    assert "prompt text" not in json.dumps(kwargs)
    assert classpath == "mix_provider.triggers.message.MixMessageTrigger"
    assert kwargs["mix_conn_id"] == CONN and leaks(json.dumps(kwargs)) == []
    assert set(kwargs) == {
        "session_id",
        "baseline",
        "deadline",
        "mix_conn_id",
        "poll_interval",
        "max_failures",
        "turn",
        "supervision",
        "decisions",
        "answer",
        "message",
        "not_before",
    }
    # the text is there only while the trigger has to send it itself (deferrable turns, once)
    assert kwargs["message"] is None and kwargs["supervision"] is None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mix.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "version": "tls"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTPS server answering ``/health`` with a self-signed certificate: ``(base URL, cert)``."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("extra", "trusted"),
    [({}, False), ({"verify_ssl": None}, False), ({"verify_ssl": "true"}, False), ({"verify_ssl": False}, True)],
    ids=["unset", "null", "true", "false"],
)
def test_tls_is_verified_by_default(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], trusted: bool
) -> None:
    base_url, _ = tls_server
    conn = {"conn_type": "mix", "host": base_url, "extra": {"max_retries": 0, **extra}}
    define_conn(monkeypatch, "mix_tls", **conn)
    with MixHook("mix_tls") as hook:
        assert hook.config.verify_ssl is not trusted
        if trusted:
            assert hook.health().version == "tls"
        else:
            with pytest.raises(MixTransportError, match="CERTIFICATE_VERIFY_FAILED"):
                hook.health()


@pytest.mark.parametrize("verify", ["default", "bundle", "off"])
async def test_tls_on_the_async_client(tls_server: tuple[str, Path], verify: str) -> None:
    """The triggers' client (sockets on plain asyncio) verifies as the blocking one does."""
    base_url, cert = tls_server
    verify_ssl = {"default": True, "bundle": str(cert), "off": False}[verify]
    config = ClientConfig(base_url=base_url, verify_ssl=verify_ssl, retry=RetryPolicy(max_retries=0))
    async with AsyncMixClient(config) as client:
        if verify == "default":
            with pytest.raises(MixTransportError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.execute(ops.health())
        else:
            assert (await client.execute(ops.health())).version == "tls"


def test_tls_with_a_ca_bundle(tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    base_url, cert = tls_server
    conn = {"conn_type": "mix", "host": base_url, "extra": {"max_retries": 0, "verify_ssl": str(cert)}}
    define_conn(monkeypatch, "mix_tls", **conn)
    with MixHook("mix_tls") as hook:
        assert hook.config.verify_ssl == str(cert)
        assert hook.health().version == "tls"
