"""Fixtures of the reliability tests: a report of tables, printed at the end of the session and
written to ``.artifacts/reliability/`` (git-ignored).

The Airflow DB, ``run_dag`` and ``masked_logging`` come from the root conftest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.report import Report

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "reliability"


REPORT = pytest.StashKey[Report]()


@pytest.fixture(scope="session")
def reliability_report(request: pytest.FixtureRequest) -> Report:
    """The session's report; what tests put in it is printed by :func:`pytest_terminal_summary`."""
    return request.config.stash.setdefault(REPORT, Report())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """Print every table and write each to ``.artifacts/reliability/<file>``."""
    report = config.stash.get(REPORT, None)
    if report is None or not report.tables:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for file, table in report.tables.items():
        text = table.markdown()
        (ARTIFACTS / file).write_text(text, encoding="utf-8")
        terminalreporter.write_sep("=", f"{table.title} (.artifacts/reliability/{file})")
        terminalreporter.write_line(text)
