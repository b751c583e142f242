"""The reliability matrix: every fault the local server injects, against every MixHook call (sync and
async) and the operators built on them (through ``dag.test()``).

Each cell must end in the call's fault-free result (after retries) or in a typed provider error naming
the request; never a duplicate session, a message sent twice, a partial or corrupt transcript file, or
an exception that is not the provider's. ``EXPECTED`` spells out every cell; the actual matrix is printed
at the end of the session and written to ``.artifacts/reliability/matrix.md``.

Cells read ``<outcome> xN``: ``ok`` is the fault-free result, anything else is the error raised (``Mix``
and ``Error`` dropped from the class name, plus the HTTP status for API errors); N is how many requests
the server saw on the faulted endpoint.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mix_provider import errors
from mix_provider.archive import ArchiveFailedError
from mix_provider.devserver.testing import MixDevServer
from mix_provider.errors import MixAPIError, MixError
from reliability.fault_ops import OPS, Op, Target, run_tasks
from reliability.report import Report, Table
from support.fakes import define_conn
from support.integration import MixAPI

pytestmark = pytest.mark.integration

CONN = "mix_reliability"
HANG_CONN = "mix_reliability_hang"
#: The client timeout of the ``hang`` cells: well above the host's own stalls (a shorter one expired on the
#: retry that was not hung, see ``benchmarks/README.md``), well below the hang.
HANG_TIMEOUT_S = 2.0
HANG_MS = 5000
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "status", "status": 429, "retry_after": 0},
    "500 always": {"kind": "status", "status": 500, "count": 100},
    "503": {"kind": "status", "status": 503},
    "hang": {"kind": "hang", "delay_ms": HANG_MS},
    "reset_before": {"kind": "reset_before"},
    "reset_after": {"kind": "reset_after"},
    "truncate": {"kind": "truncate"},
    "malformed": {"kind": "malformed"},
}

#: Safe to send again: every transient fault is retried away; a persistent 500 ends in MixServerError.
_RETRIED = "ok x2 | Server 500 x4 | ok x2 | ok x2 | ok x2 | ok x2 | ok x2 | ok x2"
#: Not idempotent, reconciled by a lookup: a lost answer is found (x1), an unapplied request is sent again (x2),
#: except after a timeout: the server may still apply it, so it is never sent again (the task's retry re-attaches).
_RECONCILED = "ok x2 | OutcomeUnknown x4 | ok x2 | OutcomeUnknown x1 | ok x2 | ok x1 | ok x1 | ok x1"
#: Nothing to reconcile with: only a 429 (not processed, by definition) is sent again.
_UNRECONCILED = " | ".join(["ok x2", *["OutcomeUnknown x1"] * 7])
#: The SSE stream: when it cannot open the waiter polls the transcript. It never ends, so the faults
#: applied after the handler cannot happen (n/a).
_STREAM = "ok x1 | ok x1 | ok x1 | ok x1 | ok x1 | n/a | n/a | n/a"
#: A 204 without a body cannot be cut or malformed; a retry finding the session gone after a lost answer is done.
_DELETE = "ok x2 | Server 500 x4 | ok x2 | ok x2 | ok x2 | ok x2 | ok x1 | ok x1"
_ARCHIVE = "ok x2 | ArchiveFailed(Server) x4 | ok x2 | ok x2 | ok x2 | ok x2 | ok x2 | ok x2"
EXPECTED_GRID = f"""
operation                 | {" | ".join(FAULTS)}
health                    | {_RETRIED}
list_sessions             | {_RETRIED}
alist_sessions            | {_RETRIED}
create_session            | {_RECONCILED}
get_session               | {_RETRIED}
aget_session              | {_RETRIED}
update_callbacks          | {_RETRIED}
get_messages              | {_RETRIED}
export_session            | {_RETRIED}
aexport_session           | {_RETRIED}
consume_export            | {_RETRIED}
rewind_session            | {_RETRIED}
cancel_session            | {_RETRIED}
acancel_session           | {_RETRIED}
delete_session            | {_DELETE}
send_message              | {_RECONCILED}
send_message, no baseline | {_UNRECONCILED}
send_and_wait             | {_RECONCILED}
wait_for_reply (stream)   | {_STREAM}
await_for_reply (stream)  | {_STREAM}
MixCreateSessionOperator     | {_RECONCILED}
MixSendMessageOperator       | {_RECONCILED}
MixExportSessionOperator     | {_RETRIED}
MixArchiveSessionsOperator   | {_ARCHIVE}
"""


def _expected() -> dict[tuple[str, str], str]:
    header, *rows = [[part.strip() for part in line.split("|")] for line in EXPECTED_GRID.strip().splitlines()]
    assert header[1:] == list(FAULTS), header
    return {(row[0], fault): outcome for row in rows for fault, outcome in zip(header[1:], row[1:], strict=True)}


EXPECTED = _expected()
assert {name for name, _ in EXPECTED} == {op.name for op in OPS}
CELLS = [(op, fault) for op in OPS for fault in FAULTS if EXPECTED[op.name, fault] != "n/a"]


def _short(name: str) -> str:
    return name.removeprefix("Mix").removesuffix("Error")


def error_label(exc: BaseException) -> str:
    """How an outcome reads in the matrix; anything not raised by the provider reads ``NON-MIX``."""
    if isinstance(exc, ArchiveFailedError):
        inner = next(iter(exc.failed.values())).split(":", 1)[0]
        cls = getattr(errors, inner, None)
        typed = isinstance(cls, type) and issubclass(cls, MixError)
        return f"ArchiveFailed({_short(inner)})" if typed else f"NON-MIX ArchiveFailed({inner})"
    if isinstance(exc, MixAPIError):
        return f"{_short(type(exc).__name__)} {exc.status}"
    if isinstance(exc, MixError):
        return _short(type(exc).__name__)
    return f"NON-MIX {type(exc).__module__}.{type(exc).__qualname__}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """A private server; ``mix_reliability`` (10 s timeout) and ``mix_reliability_hang`` (0.5 s) reach it."""
    data_dir = tmp_path_factory.mktemp("mix-reliability")
    # legacy: the invariants look sessions up in the full list (the current one shows 20; issue 24)
    with MixDevServer(data_dir, reply_delay_ms=20, generation="legacy") as srv, pytest.MonkeyPatch.context() as mp:
        for conn_id, timeout in ((CONN, 10.0), (HANG_CONN, HANG_TIMEOUT_S)):
            extra = {"timeout": timeout, "max_retries": 3, "retry_max_wait": 0.05}
            conn = {"conn_type": "mix", "host": srv.base_url, "extra": extra}
            define_conn(mp, conn_id, **conn)
        yield srv


@pytest.fixture(scope="module")
def api(server: MixDevServer) -> Iterator[MixAPI]:
    """Plain HTTP to the private server (not the provider's client)."""
    client = MixAPI(server.base_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def matrix(reliability_report: Report) -> Table:
    """The printed matrix, every cell ``-`` until it runs."""
    table: Table = reliability_report.table("matrix.md", "Reliability matrix: fault x operation", list(FAULTS))
    for op in OPS:
        for fault in FAULTS:
            table.set(op.name, fault, "n/a" if EXPECTED[op.name, fault] == "n/a" else "-")
    table.notes = [
        "`ok xN`: the fault-free result, after N requests on the faulted endpoint. Otherwise the error raised:",
        "`Server 500` = MixServerError, `OutcomeUnknown` = MixOutcomeUnknownError (a create/send that may have been",
        "applied and could not be reconciled), `ArchiveFailed(X)` = ArchiveFailedError naming the session and its X.",
        f"`500 always` answers every attempt; other faults hit one request. `hang` stalls {HANG_MS} ms against a",
        f"{HANG_TIMEOUT_S} s client timeout. `n/a`: the SSE stream never ends, so faults after its handler cannot occur.",
    ]
    return table


Settled = list[tuple[Target, Op, bool, float]]
Outcome = tuple[Target, Any, int]


@pytest.fixture(scope="module")
def settled() -> Settled:
    """Every cell run: its target, operation, whether it succeeded, and when its hung request lands."""
    return []


def _inject(server: MixDevServer, op: Op, target: Target, fault: str) -> str:
    """Inject ``fault`` into the operation's endpoint; return that endpoint as a regex."""
    path = re.escape(op.endpoint(target))
    spec = dict(FAULTS[fault])
    server.add_fault(spec.pop("kind"), method=op.method, path=path, **spec)
    return path


def _run_hook_cell(server: MixDevServer, op: Op, target: Target, fault: str) -> Outcome:
    """Prepare, inject, call: ``(target, None or the exception, requests on the endpoint)``."""
    assert op.call is not None
    op.prepare(target)
    server.clear_faults()
    server.reset_request_counts()
    path = _inject(server, op, target, fault)
    error: Exception | None = None
    try:
        op.call(target)
    except AssertionError:
        raise
    except Exception as exc:
        error = exc
    finally:
        server.clear_faults()
    return target, error, server.request_count(op.method, path)


@pytest.fixture(scope="module")
def operator_outcomes(
    server: MixDevServer, api: MixAPI, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, Callable[..., Any]], dict[str, Outcome]]:
    """Per fault, the operator rows run as the tasks of one DAG (one ``dag.test()``, each task on its own endpoint)."""
    done: dict[str, dict[str, Outcome]] = {}

    def outcomes(fault: str, run_dag: Callable[..., Any]) -> dict[str, Outcome]:
        if fault not in done:
            conn_id = HANG_CONN if fault == "hang" else CONN
            rows = [op for op in OPS if op.task is not None]
            targets = {op.name: Target(server, api, conn_id, tmp_path_factory.mktemp("operator")) for op in rows}
            for op in rows:
                op.prepare(targets[op.name])
            server.clear_faults()
            server.reset_request_counts()
            paths = {op.name: _inject(server, op, targets[op.name], fault) for op in rows}
            try:
                cells = {op.name: (op.task, targets[op.name]) for op in rows if op.task is not None}
                results = run_tasks(run_dag, cells)
            finally:
                server.clear_faults()
            done[fault] = {
                op.name: (targets[op.name], results[op.name], server.request_count(op.method, paths[op.name]))
                for op in rows
            }
        return done[fault]

    return outcomes


@pytest.mark.parametrize(("op", "fault"), CELLS, ids=[f"{op.name}|{fault}" for op, fault in CELLS])
def test_fault(
    op: Op,
    fault: str,
    server: MixDevServer,
    api: MixAPI,
    matrix: Table,
    settled: Settled,
    operator_outcomes: Callable[[str, Callable[..., Any]], dict[str, Outcome]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    try:
        if op.task is None:
            target = Target(server, api, HANG_CONN if fault == "hang" else CONN, tmp_path)
            target, error, requests = _run_hook_cell(server, op, target, fault)
        else:
            target, result, requests = operator_outcomes(fault, request.getfixturevalue("run_dag"))[op.name]
            error = result if isinstance(result, BaseException) else None
            if error is None:
                op.task.check(target, result)
    except AssertionError:
        matrix.set(op.name, fault, "WRONG RESULT")
        raise
    actual = f"{'ok' if error is None else error_label(error)} x{requests}"
    expected = EXPECTED[op.name, fault]
    matrix.set(op.name, fault, actual if actual == expected else f"{actual} (expected {expected})")
    settled.append((target, op, error is None, time.monotonic() + HANG_MS / 1000 if fault == "hang" else 0.0))

    assert actual == expected, f"{op.name} under {fault}: {error!r}"
    if error is not None:
        named = target.session_id if isinstance(error, ArchiveFailedError) else f"{op.method} {op.endpoint(target)}"
        assert named in str(error), f"the error does not name the request: {error}"
    op.invariant(target, error is None)


def test_nothing_lands_late(settled: Settled) -> None:
    """Hung requests reach the server after their cell ended: every invariant still holds once they have."""
    assert settled, "run with the matrix"
    wait = max(due for *_, due in settled) - time.monotonic()
    if wait > 0:
        time.sleep(wait + 0.5)
    for target, op, ok, _ in settled:
        op.invariant(target, ok)
