"""Parse-time checks of templated arguments, shared by the operators, the sensors and the decorator.

An argument holding Jinja (or an XComArg) is only known once Airflow renders it; the checks below
run at DAG parse time on the others, and again on everything once rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

from airflow.sdk.definitions._internal.mixins import ResolveMixin

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


def template_safe(value: Enum | V) -> str | V:
    """An enum member as its plain value: a templated field renders ``str(member)``, i.e. ``Class.NAME``."""
    return str(value.value) if isinstance(value, Enum) else value


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
