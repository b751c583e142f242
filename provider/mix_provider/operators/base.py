"""What every Mix operator shares: the connection id and one hook per task run."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from functools import cached_property
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator

from mix_provider.hooks.mix import MixHook

V = TypeVar("V")


def template_safe(value: Enum | V) -> str | V:
    """An enum member as its plain value: a templated field renders ``str(member)``, i.e. ``Class.NAME``."""
    return str(value.value) if isinstance(value, Enum) else value


class MixBaseOperator(BaseOperator):  # type: ignore[misc]
    """Base of the Mix operators.

    :param mix_conn_id: the Airflow connection of type ``mix`` (templated).
    """

    template_fields: Sequence[str] = ("mix_conn_id",)
    ui_color = "#e8f0fe"

    def __init__(self, *, mix_conn_id: str = MixHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mix_conn_id = mix_conn_id

    @cached_property
    def hook(self) -> MixHook:
        """The hook of this task run (one connection lookup, one pooled client)."""
        return MixHook(self.mix_conn_id)
