"""Storage paths from task arguments, shared by the hook's file methods, the operators and the archive.

A neutral module (like :mod:`mix_provider.templating`): the hook reads an upload's source through it
without importing the archive, and the operators check their destinations with it at parse time.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.errors import MixConfigError
from mix_provider.templating import is_template

#: fsspec protocols of the local disk.
LOCAL_PROTOCOLS = frozenset({"file", "local"})


def storage_path(field: str, value: object) -> ObjectStoragePath:
    """Return ``value`` (an :class:`ObjectStoragePath` or a URI string) as a storage path.

    :raises MixConfigError: naming ``field`` when it is empty or of another type.
    """
    if isinstance(value, ObjectStoragePath):
        return value
    if not isinstance(value, str) or not value.strip():
        kind = type(value).__name__
        raise MixConfigError(field, f"must be an ObjectStoragePath or a URI string like 'file:///...', got {kind}")
    try:
        return ObjectStoragePath(value.strip())
    except ValueError as exc:  # fsspec: "Unsupported filesystem: 'foo'"
        raise MixConfigError(
            field, f"{value.strip()!r} has no known filesystem ({exc}); use file://, s3://, gs://, ... (fsspec)"
        ) from None


def check_location(field: str, value: object, *, optional: bool = False) -> ObjectStoragePath | None:
    """Validate a location argument: an :class:`ObjectStoragePath` or URI string (None if ``optional``
    and empty, or while it is a template)."""
    if value is None or value == "":
        if optional:
            return None
        raise MixConfigError(field, "is required: an ObjectStoragePath or a URI such as 's3://bucket/prefix'")
    if is_template(value):
        return None
    return storage_path(field, value)
