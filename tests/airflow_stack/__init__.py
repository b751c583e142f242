"""Pieces shared by the suites that run a real Airflow on this machine (tests/e2e, tests/distributed).

``postgres``: a throwaway PostgreSQL cluster; ``redis``: a throwaway Redis server; ``processes``:
long-running children in their own process groups with their logs kept; ``airflow_env``: the
environment every Airflow process of a test gets, the health poll and the Execution API warm-up;
``rest``: a client of Airflow's public REST API; ``report``: the phase timings printed at the end.

The package sits in ``tests/``, which the root ``conftest.py`` puts on ``sys.path``, so both suites
import it as ``airflow_stack``; ``make compat``'s ``hitl-answer`` check (``scripts/compat/hitl.py``)
puts it on its path too, and needs nothing beyond Airflow's own dependencies (httpx, psutil).
"""
