"""One compat target's checks, run by ``run.py`` with the target venv's Python, all in this one process.

Writes ``{check: {"status": "PASS" | "FAIL" | "N/A", "detail": ...}}`` to ``--out``. Checks, in order:
``import`` (every module of the installed package), ``providers-cli`` (``airflow providers
get/hooks/behaviours/widgets/triggers -o json`` list the provider, its form and triggers),
``conn-form`` (the form the UI renders: what the API server's hook metadata says),
``example-dags`` (each example DAG through ``dag.test()`` against the local Mix server) and
``deferred-turn`` (a deferrable ``MixSendMessageOperator`` defers, its trigger runs, it succeeds) and
``hitl-answer`` (a person's answer through Airflow's REST API reaches a supervised turn; ``hitl.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from hitl import NotApplicable, check_hitl_answer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
EXAMPLE_DAG_IDS = (
    "mix_first_turn",
    "mix_session_lifecycle",
    "mix_parallel_research",
    "mix_archive_transcripts",
    "mix_typed_triage",
    "mix_archive_to_asset",
    "mix_on_new_transcripts",
    "mix_cost_report",
    "mix_supervised_turn",
    "mix_files_round_trip",
)
#: Example DAG files that need an optional extra the wheel alone does not bring: not run here, and
#: their import error (the missing extra) is expected. tests/integration/test_example_dags.py runs them.
OPTIONAL_EXAMPLES = {
    "mix_managed_agent.py": "needs the common-ai extra (AgentOperator, pydantic-ai)",
}
PACKAGE = "airflow-provider-mix"
#: Verdicts that do not fail the matrix: passed, or not applicable to the release.
PASSING = ("PASS", "N/A")


class CheckFailed(Exception):
    """A check's assertion did not hold."""


def expect(condition: object, message: str) -> None:
    """Fail the current check with ``message`` unless ``condition``."""
    if not condition:
        raise CheckFailed(message)


def check_import() -> str:
    """Import every module of the installed ``mix_provider`` (not this repository's source)."""
    import mix_provider

    origin = Path(mix_provider.__file__).resolve()
    expect(REPO / "provider" not in origin.parents, f"mix_provider imported from the source tree: {origin}")
    names = [m.name for m in pkgutil.walk_packages(mix_provider.__path__, "mix_provider.")]
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    expect(not failed, f"{len(failed)} of {len(names)} modules failed: {failed}")
    return f"{len(names)} modules from {origin.parent.parent.name}"


def airflow_cli(*argv: str) -> Any:
    """Run ``airflow <argv> -o json`` in this process; return the parsed output."""
    from airflow.cli.cli_parser import get_parser

    args = get_parser().parse_args([*argv, "-o", "json"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        args.func(args)
    return json.loads(buffer.getvalue())


def check_providers_cli() -> str:
    """``airflow providers get/hooks/behaviours/widgets/triggers`` show the provider and its form."""
    from mix_provider.get_provider_info import CONN_FIELDS

    info = airflow_cli("providers", "get", PACKAGE)
    expect(info and info[0].get("Provider") == PACKAGE, f"providers get: {info}")
    hooks = {h["connection_type"]: h for h in airflow_cli("providers", "hooks")}
    expect(
        hooks.get("mix", {}).get("class") == "mix_provider.hooks.mix.MixHook", f"providers hooks: {hooks.get('mix')}"
    )
    behaviours = [b for b in airflow_cli("providers", "behaviours") if b.get("field_behaviours") == "mix"]
    expect(behaviours, "providers behaviours: no mix entry")
    widgets = {
        w["connection_parameter_name"]: w
        for w in airflow_cli("providers", "widgets")
        if w["connection_parameter_name"].startswith("extra__mix__")
    }
    expected = {f"extra__mix__{name}" for name in CONN_FIELDS}
    expect(set(widgets) == expected, f"providers widgets: {sorted(widgets)} != {sorted(expected)}")
    triggers = {t["class"] for t in airflow_cli("providers", "triggers") if t["package_name"] == PACKAGE}
    expect(
        {"mix_provider.triggers.message", "mix_provider.triggers.session", "mix_provider.triggers.idle"} <= triggers,
        f"providers triggers: {triggers}",
    )
    return f"hook, behaviours, {len(widgets)} widgets, {len(triggers)} trigger modules"


def check_conn_form() -> str:
    """The ``mix`` form as the UI renders it: relabelled host/password, hidden login/schema, our extra fields."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    from mix_provider.get_provider_info import CONN_FIELDS

    metas = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "mix"]
    expect(len(metas) == 1, f"hook metadata for mix: {metas}")
    meta = metas[0].model_dump()
    standard = meta["standard_fields"] or {}
    expect(standard.get("host", {}).get("title") == "Base URL", f"host: {standard.get('host')}")
    expect(standard.get("password", {}).get("title") == "Bearer Token", f"password: {standard.get('password')}")
    expect(standard.get("login", {}).get("hidden") is True, f"login: {standard.get('login')}")
    extra = meta["extra_fields"] or {}
    expect(set(extra) == set(CONN_FIELDS), f"extra fields: {sorted(extra)} != {sorted(CONN_FIELDS)}")
    for name, spec in CONN_FIELDS.items():
        field = extra[name]
        schema = field.get("schema", {})
        expect(schema.get("title") == spec["label"], f"{name} label: {schema.get('title')!r}")
        expect(field.get("description") == spec["description"], f"{name} help: {field.get('description')!r}")
        expect(field.get("value") == spec["schema"].get("default"), f"{name} default: {field.get('value')!r}")
    expect(extra["headers"]["schema"].get("format") == "password", "headers is not a password field")
    return f"Base URL / Bearer Token, {len(extra)} extra fields with help and defaults"


def migrate(home: Path) -> None:
    """A migrated metadata DB: copied from the template this venv made once, else migrated now."""
    template = home / "airflow.db.template"
    db = home / "airflow.db"
    if not template.exists():
        db.unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        shutil.copy(db, template)
    else:
        shutil.copy(template, db)
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


def task_states(dag_run: Any) -> dict[str, str]:
    """``task_id[map_index]`` -> state of every task instance of ``dag_run``."""
    return {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def check_example_dags() -> str:
    """Each example DAG parses (no import errors) and runs to success through ``dag.test()``."""
    from mix_provider.version_compat import dag_bag_class, sync_dag_bag_to_db

    bag = dag_bag_class()(str(EXAMPLES))
    errors = {path: error for path, error in bag.import_errors.items() if Path(path).name not in OPTIONAL_EXAMPLES}
    expect(not errors, f"import errors: {errors}")
    # As the DAG processor would: 3.0's dag.test() does not write the DAG, and a task whose outlet
    # asset was never written (so never activated) fails with AirflowInactiveAssetInInletOrOutletException.
    sync_dag_bag_to_db(bag, "dags-folder")
    outcomes = {}
    for dag_id in EXAMPLE_DAG_IDS:
        dag_run = bag.get_dag(dag_id).test()
        outcomes[dag_id] = str(dag_run.state)
        expect(dag_run.state == "success", f"{dag_id} ended {dag_run.state}: {task_states(dag_run)}")
    return ", ".join(f"{k} {v}" for k, v in outcomes.items())


def check_deferred_turn() -> str:
    """A deferrable ``MixSendMessageOperator``: it defers, the trigger runs (in-process here), it succeeds."""
    from airflow.providers.common.compat.sdk import DAG

    from mix_provider.operators.message import MixSendMessageOperator
    from mix_provider.operators.session import MixCreateSessionOperator
    from mix_provider.triggers.message import MixMessageTrigger
    from mix_provider.version_compat import dag_bag_class, sync_dag_bag_to_db

    seen: dict[str, list[Any]] = {"trigger_runs": [], "completions": []}
    original_run, original_complete = MixMessageTrigger.run, MixSendMessageOperator.execute_complete

    async def counting_run(self: Any) -> Any:
        seen["trigger_runs"].append(self.session_id)
        async for event in original_run(self):
            yield event

    def recording_complete(self: Any, context: Any, event: Any = None) -> Any:
        seen["completions"].append(event)
        return original_complete(self, context, event)

    with DAG(dag_id="compat_deferred_turn", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        session = MixCreateSessionOperator(task_id="create", title="compat deferred turn")
        MixSendMessageOperator(
            task_id="turn", session_id=session.output, text="Hello", deferrable=True, poll_interval=0.2, timeout=120
        )
    bag = dag_bag_class()(collect_dags=False)
    bag.bag_dag(dag)
    sync_dag_bag_to_db(bag, "dags-folder")
    MixMessageTrigger.run, MixSendMessageOperator.execute_complete = counting_run, recording_complete  # type: ignore[method-assign]
    try:
        dag_run = dag.test()
    finally:
        MixMessageTrigger.run, MixSendMessageOperator.execute_complete = original_run, original_complete  # type: ignore[method-assign]
    expect(dag_run.state == "success", f"ended {dag_run.state}: {task_states(dag_run)}")
    expect(len(seen["trigger_runs"]) == 1, f"trigger runs: {seen['trigger_runs']}")
    (event,) = seen["completions"] or [None]
    expect(isinstance(event, dict) and event.get("status") == "success", f"resumed with event {event!r}")
    turn = dag_run.get_task_instance("turn")
    result = turn.xcom_pull(task_ids="turn")
    expect(isinstance(result, dict) and result.get("reply"), f"no reply in XCom: {result!r}")
    return f"deferred, trigger ran once, resumed with status success, try {turn.try_number}"


def check_ask_gate() -> str:
    """``on_undecided="ask"`` is refused when the DAG is parsed on an Airflow without human-in-the-loop (3.0)."""
    from airflow import __version__ as version
    from packaging.version import Version

    from mix_provider.errors import MixConfigError
    from mix_provider.operators.message import MixSendMessageOperator

    has_hitl = Version(Version(version).base_version) >= Version("3.1")
    try:
        MixSendMessageOperator(task_id="ask", session_id="s1", text="hi", permission_policy={"on_undecided": "ask"})
    except MixConfigError as exc:
        expect(not has_hitl, f"refused on Airflow {version}, which has human-in-the-loop: {exc}")
        expect("needs Airflow >= 3.1" in str(exc), f"the refusal does not say why: {exc}")
        return f"refused at parse time: {exc.field}"
    expect(has_hitl, f"accepted on Airflow {version}, which has no human-in-the-loop")
    return "accepted (human-in-the-loop available)"


def run_check(name: str, fn: Callable[[], str], results: dict[str, dict[str, str]]) -> None:
    """Run one check, record PASS/FAIL with its detail, print a line."""
    began = time.monotonic()
    try:
        detail, status = fn(), "PASS"
    except NotApplicable as exc:
        detail, status = str(exc), "N/A"
    except Exception as exc:
        detail, status = f"{type(exc).__name__}: {exc}"[:2000], "FAIL"
        traceback.print_exc()
    results[name] = {"status": status, "detail": detail, "seconds": f"{time.monotonic() - began:.1f}"}
    print(f"[compat] {name}: {status} ({time.monotonic() - began:.1f} s) {detail}", flush=True)


def main() -> int:
    """Set up an isolated AIRFLOW_HOME, run every check, write the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    for scratch in ("archive", "mix-data", "standalone"):
        shutil.rmtree(home / scratch, ignore_errors=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_VAR_MIX_ARCHIVE_BASE_PATH": (home / "archive").as_uri(),
            "COLUMNS": "10000",
        }
    )
    import airflow

    print(f"[compat] Airflow {airflow.__version__}, Python {sys.version.split()[0]}", flush=True)
    results: dict[str, dict[str, str]] = {}
    run_check("import", check_import, results)
    # The form first, as a fresh API server builds it: on 3.0/3.1 the API server's stand-ins for
    # flask_appbuilder only apply while nothing initialised the ProvidersManager with the real ones.
    run_check("conn-form", check_conn_form, results)
    run_check("providers-cli", check_providers_cli, results)
    run_check("ask-gate", check_ask_gate, results)
    migrate(home)
    from airflow.sdk.log import configure_logging

    from mix_provider.devserver.testing import MixDevServer

    configure_logging()
    with MixDevServer(home / "mix-data", reply_delay_ms=50) as server:
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = json.dumps(
            {"conn_type": "mix", "host": server.base_url, "extra": {"max_retries": 2, "retry_max_wait": 1}}
        )
        run_check("example-dags", check_example_dags, results)
        run_check("deferred-turn", check_deferred_turn, results)
        run_check("hitl-answer", partial(check_hitl_answer, expect, home, server.base_url), results)
    args.out.write_text(json.dumps(results, indent=2))
    return 0 if all(r["status"] in PASSING for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
