"""``make compat``: install the provider's built wheel into one venv per Airflow release and Python, check it.

For each target in ``releases.toml`` (Airflow release x Python): a virtual environment (made with uv,
kept under ``.compat/venvs/`` and reused while its inputs are unchanged) with that release and its
pins, the provider installed from the wheel ``uv build`` made from the sdist, then ``check.py`` in
that environment (one process: imports, ``airflow providers ...``, the connection form, the example
DAGs, a deferred turn, and a person's answer through the REST API of a real Airflow it starts).
Prints the matrix, target x check (``N/A``: not applicable to the release). Exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = REPO / ".compat"
CHECKS = ("import", "conn-form", "providers-cli", "ask-gate", "example-dags", "deferred-turn", "hitl-answer")


@dataclass(frozen=True)
class Target:
    """One virtual environment: an Airflow release on one Python, with its pins."""

    airflow: str
    python: str
    pins: tuple[str, ...]
    extra: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"airflow-{self.airflow}-py{self.python}"


def load_targets(only: list[str]) -> list[Target]:
    """The targets of ``releases.toml``, optionally only those whose name contains one of ``only``."""
    spec = tomllib.loads((HERE / "releases.toml").read_text())
    floor = f"apache-airflow-providers-common-compat=={spec['common_compat_floor']}"
    targets = [
        Target(release["airflow"], python, (*release["pins"], floor), tuple(release.get("with", ())))
        for release in spec["release"]
        for python in release["pythons"]
    ]
    return [t for t in targets if not only or any(o in t.name for o in only)]


def find_python(minor: str) -> str:
    """The interpreter for ``minor`` (``3.12``): ``MIX_COMPAT_PYTHON_3_12``, else pyenv's newest patch."""
    override = os.environ.get(f"MIX_COMPAT_PYTHON_{minor.replace('.', '_')}")
    if override:
        return override
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = sorted(
        glob.glob(f"{root}/versions/{minor}.*/bin/python"), key=lambda p: [int(x) for x in p.split("/")[-3].split(".")]
    )
    if not found:
        raise SystemExit(f"no Python {minor}: install it with pyenv or set MIX_COMPAT_PYTHON_{minor.replace('.', '_')}")
    return found[-1]


def uv() -> str:
    """The uv binary: the bootstrap venv's (``make venv``), else one on PATH."""
    local = REPO / ".bootstrap" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise SystemExit("uv not found: run `make venv` first")
    return found


def build_wheel() -> Path:
    """Build the sdist, then the wheel from it (``uv build``); return the wheel."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run([uv(), "build", "-q", "--out-dir", str(dist), str(REPO)], check=True)
    (wheel,) = dist.glob("*.whl")
    return wheel


def prepare(target: Target, wheel: Path) -> tuple[Path, float, str]:
    """Create or reuse the target's venv, install the release, its pins and the wheel; return its python."""
    began = time.monotonic()
    venv = WORK / "venvs" / target.name
    python = find_python(target.python)
    key = hashlib.sha256(json.dumps([target.airflow, target.pins, target.extra, python]).encode()).hexdigest()
    stamp = venv / ".compat-key"
    reused = stamp.exists() and stamp.read_text() == key
    if not reused:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv(), "venv", "-q", "--python", python, str(venv)], check=True)
    constraints = venv / "pins.txt"
    constraints.write_text("\n".join(target.pins) + "\n")
    # Always run: a no-op in about a second when nothing changed; swaps in a rebuilt wheel otherwise.
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "--compile-bytecode",
            "--constraint",
            str(constraints),
            "--reinstall-package",
            "airflow-provider-mix",
            f"apache-airflow=={target.airflow}",
            f"airflow-provider-mix[devserver] @ {wheel.as_uri()}",
            *target.extra,
        ],
        check=True,
    )
    stamp.write_text(key)
    return venv / "bin" / "python", time.monotonic() - began, "reused" if reused else "created"


def run_target(target: Target, wheel: Path) -> dict[str, Any]:
    """Prepare the target and run ``check.py`` in it; the result has one PASS/FAIL per check."""
    log = WORK / "logs" / f"{target.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"target": target.name, "checks": {}, "log": str(log.relative_to(REPO))}
    try:
        python, setup_s, how = prepare(target, wheel)
    except subprocess.CalledProcessError as exc:
        result["error"] = f"venv: {exc}"
        return result
    out = WORK / "results" / f"{target.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    began = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(python), str(HERE / "check.py"), "--home", str(WORK / "homes" / target.name), "--out", str(out)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            timeout=1800,
            check=False,
        )
    if out.exists():
        result["checks"] = json.loads(out.read_text())
    if proc.returncode and not result["checks"]:
        result["error"] = f"check.py exited {proc.returncode}"
    result["timing"] = f"venv {how} {setup_s:.0f} s, checks {time.monotonic() - began:.0f} s"
    return result


def print_matrix(results: list[dict[str, Any]]) -> bool:
    """Print target x check; return True when everything passed."""
    width = max(len(r["target"]) for r in results) + 2
    print("\n" + "target".ljust(width) + "".join(c.ljust(15) for c in CHECKS) + "time")
    ok = True
    for r in results:
        cells = []
        for check in CHECKS:
            verdict = r["checks"].get(check, {}).get("status", "FAIL" if "error" in r else "-")
            ok &= verdict in ("PASS", "N/A")
            cells.append(verdict.ljust(15))
        print(r["target"].ljust(width) + "".join(cells) + r.get("timing", r.get("error", "")))
    for r in results:
        for check, outcome in r["checks"].items():
            if outcome.get("status") not in ("PASS", "N/A"):
                print(f"\n{r['target']} {check}: {outcome.get('detail', '')}")
        if "error" in r:
            print(f"\n{r['target']}: {r['error']} (log: {r['log']})")
    return ok


def main() -> int:
    """Run every target (two at a time by default) and print the matrix."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run targets whose name contains this")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("COMPAT_JOBS", "2")))
    args = parser.parse_args()
    began = time.monotonic()
    targets = load_targets(args.only)
    wheel = build_wheel()
    print(f"built {wheel.name}; {len(targets)} targets, {args.jobs} at a time", flush=True)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_target, t, wheel) for t in targets]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            print(f"  {r['target']}: {r.get('timing', r.get('error'))}", flush=True)
    results = [f.result() for f in futures]
    ok = print_matrix(results)
    print(f"\nmake compat: {time.monotonic() - began:.0f} s wall, load {os.getloadavg()[0]:.2f}; logs in .compat/logs/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
