"""What every Mix operator shares: the connection id and one hook per task run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator
from airflow.sdk.definitions._internal.mixins import ResolveMixin

from mix_provider.hooks.mix import MixHook
from mix_provider.lineage import facets_on_complete
from mix_provider.links import MixSessionLink

V = TypeVar("V")


def is_template(value: object) -> bool:
    """Whether ``value`` is only known once rendered: a string holding Jinja, an XComArg, or a list/dict of them."""
    if isinstance(value, str):
        return "{{" in value
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

    @cached_property
    def hook(self) -> MixHook:
        """The hook of this task run (one connection lookup, one pooled client)."""
        return MixHook(self.mix_conn_id)
