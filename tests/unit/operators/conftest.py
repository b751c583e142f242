"""Fixtures of the operator unit tests: a MixHook on a recording ``httpx.MockTransport`` (no sockets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mix_provider.hooks.mix import MixHook
from support.fakes import Recorder, define_conn


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The recorder behind ``attach``; ``mix_default`` points at an address nothing listens on."""
    define_conn(monkeypatch, "mix_default", host="http://mix.invalid:8088")
    return Recorder()


@pytest.fixture
def attach(recorder: Recorder) -> Callable[[Any], Any]:
    """Give an operator a hook whose requests go to ``recorder``; returns the operator."""

    def _attach(operator: Any) -> Any:
        operator.__dict__["hook"] = MixHook(operator.mix_conn_id, max_retries=0, transport=recorder.transport())
        return operator

    return _attach
