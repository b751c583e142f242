"""Fixtures of the trigger and sensor integration tests (defined in ``support.integration``)."""

from support.integration import api, faults, uid

__all__ = ["api", "faults", "uid"]
