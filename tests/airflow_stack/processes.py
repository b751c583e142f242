"""Long-running children of a test (Airflow components, Redis), each in its own session.

Every child starts with ``start_new_session=True``, so its process group id is its pid, and writes
stdout and stderr to one log file that is kept. Stopping signals every process group of the child's
tree, not only its own: the task-sdk supervisor moves each task process into a group of its own
(``os.setpgid`` in ``airflow/sdk/execution_time/supervisor.py``), so signalling the leader's group
alone would leave task processes running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

STOP_GRACE_S = 15.0


class ManagedProcess:
    """One child process tree, its log, and the ways to end it.

    :param name: a short name for logs and messages (``worker-1``).
    :param argv: the command.
    :param env: its whole environment.
    :param log_path: where its stdout and stderr go (appended).
    """

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The leader's pid (also its process group id)."""
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> None:
        """Launch the command in a new session; its output goes to :attr:`log_path`."""
        if self._process is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def running(self) -> bool:
        """Whether the leader is still alive."""
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        """The leader's exit status once it has ended."""
        return None if self._process is None else self._process.poll()

    def tree(self) -> list[psutil.Process]:
        """The leader and all its descendants that are alive now."""
        if self._process is None:
            return []
        try:
            leader = psutil.Process(self._process.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def process_groups(self) -> set[int]:
        """The process group ids of the tree (the leader's own group first of all)."""
        groups = {self.pid} if self._process is not None else set()
        for proc in self.tree():
            with contextlib.suppress(psutil.Error, OSError):
                groups.add(os.getpgid(proc.pid))
        return groups

    def contains(self, pid: int) -> bool:
        """Whether ``pid`` is the leader or one of its descendants."""
        return any(proc.pid == pid for proc in self.tree())

    def kill(self) -> float:
        """SIGKILL every process group of the tree at once (a crash); return when it was sent (monotonic).

        The leader is reaped; nothing of the tree is left.
        """
        groups = self.process_groups()
        sent = time.monotonic()
        _signal_groups(groups, signal.SIGKILL)
        self._wait_gone(groups, STOP_GRACE_S)
        self._process = None
        return sent

    def stop(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGKILL), grace_s: float = STOP_GRACE_S) -> None:
        """Signal every process group of the tree with each of ``signals`` in turn until none is left; idempotent."""
        if self._process is None:
            return
        groups = self.process_groups()
        for sig in signals:
            groups |= self.process_groups()
            _signal_groups(groups, sig)
            if self._wait_gone(groups, grace_s):
                break
        self._process = None

    def _wait_gone(self, groups: set[int], timeout: float) -> bool:
        """Reap the leader and wait until no process of ``groups`` is left."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None:
                self._process.poll()
            alive = _live_members(groups)
            if not alive:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def log_tail(self, size: int = 6000) -> str:
        """The end of the process's output."""
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        return ""

    def log_contains(self, needle: bytes) -> bool:
        """Whether the output so far contains ``needle``."""
        with contextlib.suppress(OSError):
            return needle in self.log_path.read_bytes()
        return False


def stop_all(
    processes: Sequence[ManagedProcess],
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGKILL),
    grace_s: float = STOP_GRACE_S,
) -> None:
    """Stop several process trees at once: each signal goes to all of them, then one shared wait."""
    running = [process for process in processes if process._process is not None]
    groups: set[int] = set()
    for sig in signals:
        for process in running:
            groups |= process.process_groups()
        _signal_groups(groups, sig)
        deadline = time.monotonic() + grace_s
        while _live_members(groups) and time.monotonic() < deadline:
            for process in running:
                if process._process is not None:
                    process._process.poll()
            time.sleep(0.2)
        if not _live_members(groups):
            break
    for process in running:
        if process._process is not None:
            process._process.poll()
        process._process = None


def _signal_groups(groups: set[int], sig: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)


def _live_members(groups: set[int]) -> list[int]:
    """The pids of processes in ``groups`` that are not zombies (a reaped-late orphan does not count)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) in groups:
                found.append(proc.pid)
    return found
