"""Run the devserver in a subprocess from tests: :class:`MixDevServer`.

Example::

    with MixDevServer(tmp_path) as server:
        server.add_fault("status", method="POST", path="/api/sessions", status=503)
        ...  # drive server.base_url with any client
        assert server.request_count("POST", "/api/sessions") == 2
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mix_provider.devserver.settings import Generation

START_TIMEOUT_S = 20.0
SKIP_PERMISSIONS = "--dangerously-skip-permissions"
STOP_TIMEOUT_S = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MixDevServer:
    """A devserver subprocess (own process group) plus its control plane.

    :param data_dir: where the SQLite file and ``devserver.log`` (stderr) live; kept across restarts.
    :param host: interface to bind.
    :param port: port to bind; ``None`` picks a free one (kept across restarts).
    :param reply_delay_ms: how long the scripted agent takes per reply.
    :param skip_permissions: run tools without asking (``--dangerously-skip-permissions``), for
        tests where permissions are not the point; by default tools ask, as on the real server.
    :param extra_args: more command-line flags (e.g. ``["--no-llm-credentials"]``).
    :param generation: the real server generation imitated, ``current`` or ``legacy``
        (``--generation``; docs/devserver.md, *Generations*).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        reply_delay_ms: int = 20,
        skip_permissions: bool = False,
        extra_args: Sequence[str] = (),
        generation: Generation = "current",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.reply_delay_ms = reply_delay_ms
        self.extra_args = (*(SKIP_PERMISSIONS,) * skip_permissions, *extra_args)
        self.generation = generation
        self.base_url = f"http://{host}:{self.port}"
        self.log_path = self.data_dir / "devserver.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=60.0, verify=False)

    @property
    def pid(self) -> int | None:
        """Return the server process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the server and wait until ``GET /health`` answers 200.

        :raises RuntimeError: when it does not come up within 20 s (with its stderr tail).
        """
        if self._process is not None:
            return
        command = [
            sys.executable, "-m", "mix_provider.devserver", "--host", self.host, "--port", str(self.port),
            "--data-dir", str(self.data_dir), "--reply-delay-ms", str(self.reply_delay_ms), "--generation", self.generation, *self.extra_args,
        ]  # fmt: skip
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        """Poll ``/health`` until 200; on failure stop the process and raise."""
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if self._http.get("/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        tail = self.stderr_tail()
        self.kill()
        raise RuntimeError(f"Mix devserver did not start on {self.base_url}; stderr tail:\n{tail}")

    def stderr_tail(self, size: int = 4000) -> str:
        """Return the end of the server's stderr."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def _signal(self, sig: int) -> None:
        """Send ``sig`` to the server's process group."""
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def stop(self) -> None:
        """Stop the server: SIGINT, then SIGTERM, then SIGKILL; idempotent."""
        if self._process is None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            self._signal(sig)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        self._process = None

    def kill(self) -> None:
        """Kill the server with SIGKILL (a crash: runs in progress stay unfinished)."""
        if self._process is None:
            return
        self._signal(signal.SIGKILL)
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def _control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the control plane and raise on an error status."""
        response = self._http.request(method, f"/_devserver/{path}", **kwargs)
        response.raise_for_status()
        return response

    def add_fault(self, kind: str, *, method: str = "*", path: str = ".*", count: int = 1, **options: object) -> None:
        """Inject a fault for the next ``count`` requests matching ``method`` and ``path`` (full regex).

        :param kind: ``status``, ``hang``, ``reset_before``, ``reset_after``, ``truncate`` or
            ``malformed``.
        :param options: ``status``, ``retry_after`` / ``retryAfter``, ``delay_ms`` / ``delayMs``,
            ``echo_headers`` / ``echoHeaders``.
        """
        body: dict[str, object] = {"kind": kind, "method": method, "path": path, "count": count}
        aliases = {"retry_after": "retryAfter", "delay_ms": "delayMs", "echo_headers": "echoHeaders"}
        body.update({aliases.get(key, key): value for key, value in options.items()})
        self._control("POST", "faults", json=body)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._control("DELETE", "faults")

    def request_count(self, method: str, path_regex: str) -> int:
        """Return how many ``method`` requests hit paths fully matching ``path_regex``."""
        response = self._control("GET", "requests", params={"method": method, "path": path_regex})
        return int(response.json()["count"])

    def reset_request_counts(self) -> None:
        """Forget the request counts."""
        self._control("DELETE", "requests")

    def reset(self) -> None:
        """Drop every session, run, fault and request count."""
        self._control("POST", "reset")

    def seed_large_session(self, *, title: str, messages: int, message_bytes: int) -> dict[str, object]:
        """Create a session of ``messages`` messages of ``message_bytes`` bytes; return its SessionData."""
        body = {"title": title, "messages": messages, "messageBytes": message_bytes}
        result: dict[str, object] = self._control("POST", "seed/large-session", json=body).json()
        return result

    def run_ends(self) -> dict[str, float]:
        """Return when each run's end was published (``time.monotonic()`` seconds), by final message id."""
        ends: dict[str, float] = self._control("GET", "run-ends").json()["ends"]
        return ends

    def seed_sessions(
        self, count: int, *, messages: int = 2, message_bytes: int = 64, title_prefix: str = "seeded"
    ) -> list[str]:
        """Create ``count`` small sessions in one request; their ids, in list order."""
        body = {"count": count, "messages": messages, "messageBytes": message_bytes, "titlePrefix": title_prefix}
        ids: list[str] = self._control("POST", "seed/sessions", json=body, timeout=600).json()["ids"]
        return ids

    def touch_sessions(self, ids: list[str]) -> int:
        """Append one exchange to each session (its list entry changes); how many were touched."""
        return int(self._control("POST", "seed/touch", json={"ids": ids}, timeout=600).json()["touched"])

    def close(self) -> None:
        """Stop the server and release the control-plane HTTP client."""
        self.stop()
        self._http.close()

    def __enter__(self) -> MixDevServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
