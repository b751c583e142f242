"""Parse-time checks of where an export or an archive writes (the operators that write files)."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import ExportSpec, storage_path
from mix_provider.errors import MixConfigError
from mix_provider.templating import is_template


def check_spec(format: Any, compression: Any) -> ExportSpec | None:
    """Validate an export's format and compression unless one is still a template (then None)."""
    if is_template(format) or is_template(compression):
        return None
    return ExportSpec(format, compression)


def check_location(field: str, value: object, *, optional: bool = False) -> ObjectStoragePath | None:
    """Validate a destination argument: an :class:`ObjectStoragePath` or URI string (None if ``optional``)."""
    if value is None or value == "":
        if optional:
            return None
        raise MixConfigError(field, "is required: an ObjectStoragePath or a URI such as 's3://bucket/prefix'")
    if is_template(value):
        return None
    return storage_path(field, value)
