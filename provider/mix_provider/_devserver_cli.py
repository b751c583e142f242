"""The ``mix-devserver`` command: the local Mix server, or how to install it when its extra is missing.

Kept outside ``mix_provider.devserver``, whose package imports Starlette on import.
"""

from __future__ import annotations

import importlib.util
import sys

#: The distributions of the ``devserver`` extra, by import name.
EXTRA_MODULES = ("starlette", "uvicorn", "sse_starlette")


def main(argv: list[str] | None = None) -> None:
    """Run ``mix_provider.devserver.__main__.main``; exit with install instructions if the extra is missing."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"mix-devserver needs the 'devserver' extra ({', '.join(missing)} not installed): "
            'pip install "airflow-provider-mix[devserver]"'
        )
    from mix_provider.devserver.__main__ import main as serve

    serve(argv)
