"""A throwaway Redis server (Debian's ``redis-server``) on a loopback port: Celery's broker in a test.

No persistence (``--save ''``, no AOF), its working dir in a temp dir, its own process group.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from airflow_stack.processes import ManagedProcess

START_TIMEOUT_S = 30.0


def redis_server_path() -> str | None:
    """The ``redis-server`` binary, or ``None`` when it is not installed."""
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


class RedisServer:
    """``redis-server`` bound to 127.0.0.1 only.

    :param port: the loopback port.
    :param root: its working dir (created); the log is ``root/redis.log``.
    """

    def __init__(self, port: int, root: Path) -> None:
        binary = redis_server_path()
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.port = port
        self.root = root
        argv = [
            binary, "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
            "--save", "", "--appendonly", "no", "--dir", str(root), "--daemonize", "no",
        ]  # fmt: skip
        self.process = ManagedProcess("redis", argv, {"PATH": "/usr/bin:/bin"}, root / "redis.log")

    @property
    def url(self) -> str:
        """The broker URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start it and wait until it answers ``PING``; return :attr:`url`."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.process.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.process.running():
                raise RuntimeError(f"redis-server exited:\n{self.process.log_tail()}")
            if self.ping():
                return self.url
            time.sleep(0.1)
        raise RuntimeError(f"redis-server not answering on {self.port}:\n{self.process.log_tail()}")

    def restart(self) -> None:
        """Stop it and start it again on the same port: every queued message is lost (no persistence)."""
        self.stop()
        self.start()

    def ping(self) -> bool:
        """One inline ``PING`` over a raw socket."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; idempotent."""
        self.process.stop()
