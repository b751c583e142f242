"""What the Mix operators share: the connection id, one hook per task run, parse-time checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.definitions._internal.mixins import ResolveMixin

from mix_provider.archive import ExportSpec, storage_path
from mix_provider.errors import MixConfigError
from mix_provider.hooks.mix import MixHook
from mix_provider.lineage import facets_on_complete
from mix_provider.links import MixSessionLink

V = TypeVar("V")


#: What starts a Jinja expression, statement or comment: a string holding one is rendered before use.
JINJA_OPENINGS = ("{{", "{%", "{#")


def is_template(value: object) -> bool:
    """Whether ``value`` is only known once rendered: a string holding Jinja, an XComArg, or a list/dict of them."""
    if isinstance(value, str):
        return any(opening in value for opening in JINJA_OPENINGS)
    if isinstance(value, ResolveMixin):
        return True
    if isinstance(value, Mapping):
        return any(is_template(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_template(item) for item in value)
    return False


def check_literal(check: Callable[..., Any], *values: object) -> None:
    """Run ``check(*values)`` now (at DAG parse time) unless a value is templated; it runs again once rendered."""
    if not any(is_template(value) for value in values):
        check(*values)


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


def rendered_number(value: object) -> object:
    """A rendered template's number: Jinja renders text, so ``"30"`` reads as 30, ``"0.5"`` as 0.5 and
    ``"None"`` or ``""`` as None; anything else is returned unchanged, for the field's check to refuse."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("", "None"):
        return None
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            continue
    return value


def template_safe(value: Enum | V) -> str | V:
    """An enum member as its plain value: a templated field renders ``str(member)``, i.e. ``Class.NAME``."""
    return str(value.value) if isinstance(value, Enum) else value


class MixBaseOperator(BaseOperator):  # type: ignore[misc]
    """Base of the Mix operators.

    :param mix_conn_id: the Airflow connection of type ``mix`` (templated).
    """

    template_fields: Sequence[str] = ("mix_conn_id",)
    ui_color = "#e8f0fe"
    operator_extra_links = (MixSessionLink(),)
    get_openlineage_facets_on_complete = facets_on_complete

    def __init__(self, *, mix_conn_id: str = MixHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mix_conn_id = mix_conn_id

    def pending_fields(self) -> frozenset[str]:
        """The template fields whose values are only known once rendered (at DAG parse time)."""
        return frozenset(name for name in self.template_fields if is_template(getattr(self, name, None)))

    @cached_property
    def hook(self) -> MixHook:
        """The hook of this task run (one connection lookup, one pooled client)."""
        return MixHook(self.mix_conn_id)
