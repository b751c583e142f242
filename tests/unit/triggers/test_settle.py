"""The defer-race hold is read from ``[mix] defer_settle_seconds``, declared once with its default."""

from __future__ import annotations

import time

import pytest

from mix_provider import defaults
from mix_provider.errors import MixConfigError
from mix_provider.get_provider_info import get_provider_info
from mix_provider.triggers.settle import settle_deadline, settle_seconds

ENV = "AIRFLOW__MIX__DEFER_SETTLE_SECONDS"


def test_default_hold_is_the_declared_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    option = get_provider_info()["config"]["mix"]["options"]["defer_settle_seconds"]
    assert float(option["default"]) == defaults.DEFER_SETTLE == settle_seconds()


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("2.5", 2.5), ("30", 30.0)])
def test_configured_hold_moves_the_deadline(monkeypatch: pytest.MonkeyPatch, value: str, expected: float) -> None:
    monkeypatch.setenv(ENV, value)
    before = time.time()
    deadline = settle_deadline()
    assert before + expected <= deadline <= time.time() + expected


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_bad_hold_is_refused_naming_the_option(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(MixConfigError, match=r"\[mix\] defer_settle_seconds.*>= 0"):
        settle_deadline()
