"""Every ``a``-prefixed async method of MixHook takes exactly what its sync twin takes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from mix_provider.hooks.mix import MixHook


def _twins() -> list[tuple[str, Callable[..., Any], Callable[..., Any]]]:
    pairs = []
    for name, member in inspect.getmembers(MixHook, inspect.isfunction):
        twin = getattr(MixHook, name[1:], None) if name.startswith("a") else None
        if inspect.isfunction(twin):
            pairs.append((name, member, twin))
    return pairs


TWINS = _twins()


def _sync(annotation: Any) -> Any:
    """An annotation as the sync twin writes it: byte streams and consumers are async on one side only."""
    if not isinstance(annotation, str):
        return annotation
    return re.sub(r"Awaitable\[(\w+)\]", r"\1", annotation.replace("AsyncIterator", "Iterator"))


def _parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default, _sync(p.annotation)) for p in signature.parameters.values()]


def test_the_twins_are_found() -> None:
    """Enough pairs that a renamed twin cannot silently leave the check."""
    names = {name for name, *_ in TWINS}
    assert {"asend_and_wait", "await_for_reply", "awas_sent", "aget_session", "aopen_export", "aclose"} <= names


@pytest.mark.parametrize(("name", "coroutine", "twin"), TWINS, ids=[name for name, *_ in TWINS])
def test_an_async_twin_takes_what_its_sync_twin_takes(
    name: str, coroutine: Callable[..., Any], twin: Callable[..., Any]
) -> None:
    assert _parameters(coroutine) == _parameters(twin), f"{name} and {name[1:]} take different arguments"
