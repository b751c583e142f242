"""Apache Airflow provider for Mix, the multimodal agents server by recreate-run."""

from __future__ import annotations

__version__ = "0.1.0"
