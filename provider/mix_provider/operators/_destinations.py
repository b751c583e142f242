"""Parse-time check of an export's format and compression (the operators that write transcripts)."""

from __future__ import annotations

from typing import Any

from mix_provider.archive import ExportSpec
from mix_provider.templating import is_template


def check_spec(format: Any, compression: Any) -> ExportSpec | None:
    """Validate an export's format and compression unless one is still a template (then None)."""
    if is_template(format) or is_template(compression):
        return None
    return ExportSpec(format, compression)
