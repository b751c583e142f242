"""The process helpers end whole trees, including a child that moved to a process group of its own
(as the task-sdk supervisor does with each task process)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from airflow_stack.processes import ManagedProcess, stop_all

# The leader starts a child that leaves the leader's group (setpgid), prints its pid, and both sleep.
TREE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgid(0, 0); time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def start_tree(tmp_path: Path, name: str) -> tuple[ManagedProcess, int]:
    """A :class:`ManagedProcess` running :data:`TREE`; its pid and the pid of the child in its own group."""
    process = ManagedProcess(name, [sys.executable, "-c", TREE], dict(os.environ), tmp_path / f"{name}.log")
    process.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = process.log_path.read_text().strip()
        if text:
            child = int(text.splitlines()[0])
            # Wait for the child's setpgid, so the test sees the two groups.
            while time.monotonic() < deadline and os.getpgid(child) != child:
                time.sleep(0.05)
            return process, child
        time.sleep(0.05)
    process.stop()
    raise AssertionError("the tree did not start")


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("how", ["stop", "kill", "stop_all"])
def test_the_whole_tree_ends(tmp_path: Path, how: str) -> None:
    process, child = start_tree(tmp_path, how)
    leader = process.pid
    assert os.getpgid(child) == child != leader
    assert process.process_groups() == {leader, child}
    assert process.contains(child)
    if how == "stop":
        process.stop()
    elif how == "kill":
        process.kill()
    else:
        stop_all([process])
    assert gone(leader)
    assert gone(child)
    assert not process.running()
    process.stop()  # idempotent
