"""A throwaway PostgreSQL cluster for a test Airflow: own data dir, loopback port, trust auth.

Uses Debian's server binaries (``/usr/lib/postgresql/<v>/bin``); as root, every command runs as
the ``postgres`` user because ``initdb`` refuses to run as root.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
DB_NAME = "airflow"


def pg_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server bin dir, or ``None``."""
    candidates = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    found = [c for c in candidates if (c / "initdb").exists()]
    return found[-1] if found else None


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here (``None`` when it can)."""
    if pg_bin_dir() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    missing = [m for m in ("psycopg2", "asyncpg") if importlib.util.find_spec(m) is None]
    if missing:
        return f"missing Python drivers {missing} (pip install psycopg2-binary asyncpg)"
    return None


class PostgresCluster:
    """``initdb`` + ``pg_ctl start`` in a temp dir; :meth:`stop` removes everything.

    :param port: loopback port to listen on.
    :param root: the directory to use (created) instead of a new temp dir; :meth:`stop` then removes
        only the data directory and keeps ``postgres.log`` there.
    """

    def __init__(self, port: int, root: Path | None = None) -> None:
        bin_dir = pg_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.bin_dir = bin_dir
        self.port = port
        self._own_root = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="mix-test-pg-"))
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._started = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``airflow`` database (superuser ``airflow``, trust auth)."""
        return f"postgresql+psycopg2://{DB_NAME}@127.0.0.1:{self.port}/{DB_NAME}"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> str:
        """Create the cluster and the ``airflow`` database; return :attr:`url`."""
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        self._run("initdb", "-D", str(self.data_dir), "-U", DB_NAME, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start")
        self._started = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_NAME, DB_NAME)
        return self.url

    def restart(self) -> None:
        """Stop the server (fast mode: every session is cut) and start it again with the same options."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-m", "fast", "-w", "restart")

    def log_tail(self, size: int = 3000) -> str:
        """The end of the server log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-size:]
        return ""

    def _kill_postmaster(self) -> None:
        """SIGKILL the postmaster named in ``postmaster.pid`` (when ``pg_ctl stop`` failed)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server (immediate mode: nothing here needs a clean checkpoint) and delete the dir."""
        if self._started:
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
            self._started = False
        shutil.rmtree(self.root if self._own_root else self.data_dir, ignore_errors=True)
