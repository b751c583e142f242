"""Old operator names, kept for one release as aliases that warn.

The operators took the ``Mix`` service prefix the ecosystem uses (``DbtCloudRunJobOperator``,
``AnthropicAgentSessionOperator``). Each operator module exposes its old names through a module
``__getattr__`` built here, so ``from mix_provider.operators.session import CreateSessionOperator``
still works, returns the renamed class itself (DAGs serialize under the new name) and warns once per
import site with :class:`~airflow.exceptions.AirflowProviderDeprecationWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning

REMOVED_IN = "2.0.0"


def renamed(module: str, *classes: type) -> Callable[[str], Any]:
    """Build a module ``__getattr__`` that resolves each old name (without ``Mix``) to its class.

    :param module: the operator module's ``__name__``, for the ``AttributeError`` of other names.
    :param classes: the renamed classes; each name starts with ``Mix``.
    """
    aliases = {cls.__name__.removeprefix("Mix"): cls for cls in classes}

    def __getattr__(name: str) -> Any:
        cls = aliases.get(name)
        if cls is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{name} is deprecated and will be removed in airflow-provider-mix {REMOVED_IN}: "
            f"use {cls.__name__} (same module, same arguments)",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return cls

    return __getattr__
