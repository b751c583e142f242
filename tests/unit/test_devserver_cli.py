"""``mix-devserver`` without its extra says how to install it instead of a ModuleNotFoundError."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from mix_provider import _devserver_cli


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "uvicorn" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SystemExit) as exited:
        _devserver_cli.main(["--help"])
    assert "uvicorn" in str(exited.value.code)
    assert 'pip install "airflow-provider-mix[devserver]"' in str(exited.value.code)


def test_with_the_extra_it_runs_the_server_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _devserver_cli.main(["--help"])
    assert exited.value.code == 0
    assert "mix-devserver" in capsys.readouterr().out
