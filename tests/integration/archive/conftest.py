"""Fixtures of the archive integration tests: the shared operator fixtures (``api``, ``faults``,
``uid``), an archive directory, and sessions with conversations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.integration import MixAPI, api, faults, uid

__all__ = ["api", "archive_dir", "conversations", "faults", "uid"]


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    """An archive directory that does not exist yet (the operators create it)."""
    return tmp_path / "archive"


@pytest.fixture
def conversations(api: MixAPI, uid: str) -> Callable[[int], list[str]]:
    """Create ``n`` sessions, each with a two-turn conversation (unicode, a tool call); return their ids."""

    def _make(n: int) -> list[str]:
        ids = []
        for i in range(n):
            session_id = api.create_session(f"archive {uid} #{i} — naïve 日本")["id"]
            api.converse(session_id, f"hello {i} 🚀", "use a tool [[tool]]")
            ids.append(session_id)
        return ids

    return _make
