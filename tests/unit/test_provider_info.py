"""Provider metadata: valid against Airflow's schemas, importable, and discovered by Airflow itself."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mix_provider.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(importlib.util.find_spec("airflow").origin).parent  # type: ignore[arg-type,union-attr]
INFO = get_provider_info()
MODULE_SECTIONS = ("hooks", "operators", "sensors", "triggers")


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((AIRFLOW_DIR / name).read_text())
    return schema


def test_matches_the_runtime_schema() -> None:
    jsonschema.validate(INFO, _schema("provider_info.schema.json"))


def test_connection_types_match_the_strict_schema() -> None:
    strict = _schema("provider.yaml.schema.json")
    subschema = {**strict["properties"]["connection-types"], "definitions": strict.get("definitions", {})}
    errors = [e.message for e in jsonschema.Draft7Validator(subschema).iter_errors(INFO["connection-types"])]
    assert errors == []


def test_the_strict_schema_does_catch_mistakes() -> None:
    strict = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    bad = json.loads(json.dumps(INFO["connection-types"]))
    bad[0]["ui-field-behaviour"]["hidden-fields"].append("token")
    bad[0]["conn-fields"]["timeout"].pop("label")
    assert len(list(jsonschema.Draft7Validator(strict).iter_errors(bad))) == 2


def test_mix_connection_type_is_declared() -> None:
    (conn_type,) = [c for c in INFO["connection-types"] if c["connection-type"] == "mix"]
    assert conn_type["hook-class-name"] == "mix_provider.hooks.mix.MixHook"
    fields = conn_type["conn-fields"]
    assert {"timeout", "verify_ssl", "max_retries", "retry_max_wait", "headers"} <= set(fields)
    assert fields["headers"]["schema"]["format"] == "password"


@pytest.mark.parametrize(
    "module",
    sorted({m for section in MODULE_SECTIONS for entry in INFO.get(section, []) for m in entry["python-modules"]}),
)
def test_listed_modules_import(module: str) -> None:
    importlib.import_module(module)


@pytest.mark.parametrize("conn_type", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_hook_classes_import_and_agree(conn_type: dict[str, Any]) -> None:
    module, _, name = conn_type["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert (hook.conn_type, hook.hook_name) == (conn_type["connection-type"], conn_type["hook-name"])


def test_airflow_cli_discovers_the_provider() -> None:
    commands = {
        "get": ["providers", "get", "airflow-provider-mix", "-o", "json"],
        "hooks": ["providers", "hooks", "-o", "json"],
    }
    procs = {
        key: subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ
        )
        for key, args in commands.items()
    }
    outputs = {key: proc.communicate(timeout=120)[0].decode() for key, proc in procs.items()}
    assert all(proc.returncode == 0 for proc in procs.values()), outputs
    provider = json.loads(outputs["get"][outputs["get"].index("[") :])
    assert provider == [{"Provider": "airflow-provider-mix", "Version": INFO["versions"][0]}]
    hooks = json.loads(outputs["hooks"][outputs["hooks"].index("[") :])
    (mix,) = [h for h in hooks if h["connection_type"] == "mix"]
    assert mix["class"] == "mix_provider.hooks.mix.MixHook"
    assert (mix["conn_id_attribute_name"], mix["package_name"]) == ("mix_conn_id", "airflow-provider-mix")


def test_ui_form_metadata() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "mix"]
    standard = meta.standard_fields
    assert standard is not None and meta.extra_fields is not None
    assert standard.host.title == "Base URL" and standard.host.placeholder == "http://127.0.0.1:8088"
    assert standard.login.hidden is True and standard.url_schema.hidden is True
    assert standard.password.hidden is False and standard.port.hidden is False
    extra = meta.extra_fields
    assert extra["timeout"]["schema"]["title"] == "Timeout (s)" and extra["timeout"]["value"] == 30
    assert extra["verify_ssl"]["value"] is True
    assert extra["headers"]["schema"]["format"] == "password"
