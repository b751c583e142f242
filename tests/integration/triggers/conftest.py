"""Fixtures of the trigger and sensor integration tests (defined in ``../operators/support.py``)."""

from integration.operators.support import api, faults, uid

__all__ = ["api", "faults", "uid"]
