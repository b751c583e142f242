"""A run summary: which metadata DB ran and how long each phase took."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

SUMMARY: dict[str, Any] = {"timings_s": {}}


@contextlib.contextmanager
def timed(name: str) -> Iterator[None]:
    """Record the wall time of a block under ``SUMMARY["timings_s"][name]``."""
    start = time.monotonic()
    try:
        yield
    finally:
        SUMMARY["timings_s"][name] = round(time.monotonic() - start, 1)
