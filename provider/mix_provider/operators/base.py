"""What the Mix operators share: the connection id, one hook per task run, which fields are still templates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperator

from mix_provider.hooks.mix import MixHook
from mix_provider.lineage import facets_on_complete
from mix_provider.links import MixSessionLink
from mix_provider.templating import is_template


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
