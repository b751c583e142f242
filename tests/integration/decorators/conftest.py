"""Fixtures of the ``@task.mix`` tests: a local Mix server with scripted JSON replies (``mix_typed``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.integration import dag_bundles, run_dag, uid

__all__ = ["dag_bundles", "run_dag", "uid"]

#: Reply rules, first match wins: "Never" never answers JSON; a retry prompt gets a valid answer.
RULES = [
    {"match": "Never", "reply": "I would rather not answer in JSON."},
    {"match": "could not be used", "reply": '```json\n{"priority": "high", "reason": "fixed"}\n```'},
    {"match": "Grade", "reply": '{"priority": "urgent", "reason": "no such priority"}'},
    {"match": "Classify", "reply": 'Here you go:\n```json\n{"priority": "low", "reason": "typo"}\n```'},
]


@pytest.fixture(scope="module")
def typed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose replies follow ``RULES``; the connection ``mix_typed`` points at it."""
    from mix_provider.devserver.testing import MixDevServer

    base: Path = tmp_path_factory.mktemp("mix-typed")
    rules = base / "rules.json"
    rules.write_text(json.dumps(RULES))
    with (
        MixDevServer(
            base / "data", reply_delay_ms=10, skip_permissions=True, extra_args=("--replies-file", str(rules))
        ) as server,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("AIRFLOW_CONN_MIX_TYPED", json.dumps({"conn_type": "mix", "host": server.base_url}))
        yield server
