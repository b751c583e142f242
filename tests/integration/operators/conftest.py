"""Fixtures of the operator integration tests (shared with the trigger tests; defined in ``support.integration``)."""

from support.integration import api, dag_bundles, faults, run_dag, uid

__all__ = ["api", "dag_bundles", "faults", "run_dag", "uid"]
