"""The local Mix server ("devserver"): a faithful implementation of the Mix Sessions API
with a deterministic scripted agent instead of an LLM, for tests and demos.

Never imports the client side of ``mix_provider``: it is an independent implementation
of the spec, judged by the official SDK and schemathesis.
"""

from __future__ import annotations

from mix_provider.devserver.app import create_app
from mix_provider.devserver.settings import Settings

__all__ = ["Settings", "create_app"]
