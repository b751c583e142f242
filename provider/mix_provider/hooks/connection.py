"""Reading a ``mix`` Airflow connection into a :class:`~mix_provider.client.ClientConfig`, and its form.

Pure functions on plain values, so the sync hook, the async hook and the tests share one parser.
Defaults and bounds come from :data:`~mix_provider.get_provider_info.CONN_FIELDS`, the one
definition of the connection's fields; so do the Airflow 3.0/3.1 form widgets built here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mix_provider.client import ClientConfig, RetryPolicy, build_base_url
from mix_provider.client.validation import check_verify_ssl, json_object, known_keys
from mix_provider.defaults import CONNECT_TIMEOUT
from mix_provider.errors import MixConfigError
from mix_provider.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR

#: Prefix of the extra keys as older Airflow connection forms store them.
UI_PREFIX = "extra__mix__"


def field_default(name: str) -> Any:
    """The default of the extra field ``name``, as declared in ``CONN_FIELDS``."""
    return CONN_FIELDS[name]["schema"].get("default")


def field_minimum(name: str) -> float:
    """The inclusive lower bound of the numeric extra field ``name``, as declared in ``CONN_FIELDS``."""
    return float(CONN_FIELDS[name]["schema"]["minimum"])


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow connection the Mix hook reads."""

    host: str | None
    schema: str | None = None
    port: int | str | None = None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] | str | None = field(default=None, repr=False)  # headers may hold secrets


@dataclass(frozen=True)
class HookOverrides:
    """Per-hook settings that win over the connection's ``extra``."""

    timeout: float | None = None
    max_retries: int | None = None
    retry_max_wait: float | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    """A ``mix`` connection read once: the client's configuration and the parsed ``extra`` (keys
    without the older forms' prefix, each one known), which the managed agent's presets come from."""

    config: ClientConfig
    extra: Mapping[str, Any] = field(repr=False)


def read_connection(fields: ConnectionFields, overrides: HookOverrides | None = None) -> ConnectionSettings:
    """Parse the connection once; every problem names its connection field.

    :raises MixConfigError: on a missing host, a bad scheme or port, or a bad ``extra`` value.
    """
    extra = {key.removeprefix(UI_PREFIX): value for key, value in _extra_dict(fields.extra).items()}
    known_keys("extra", extra, frozenset(CONN_FIELDS))
    return ConnectionSettings(_config(fields, extra, overrides or HookOverrides()), extra)


def config_from_connection(fields: ConnectionFields, overrides: HookOverrides | None = None) -> ClientConfig:
    """The client configuration of :func:`read_connection`."""
    return read_connection(fields, overrides).config


def _config(fields: ConnectionFields, extra: Mapping[str, Any], over: HookOverrides) -> ClientConfig:
    timeout = _number("timeout", over.timeout, extra.get("timeout"))
    max_retries = _number("max_retries", over.max_retries, extra.get("max_retries"))
    if max_retries != int(max_retries):
        raise MixConfigError("extra.max_retries", f"must be a whole number, got {max_retries:g}")
    retry = RetryPolicy(
        max_retries=int(max_retries),
        max_wait=_number("retry_max_wait", over.retry_max_wait, extra.get("retry_max_wait")),
    )
    return ClientConfig(
        base_url=build_base_url(fields.host, scheme=fields.schema or None, port=fields.port),
        token=fields.password or None,
        headers=_headers(extra.get("headers")),
        connect_timeout=min(timeout, CONNECT_TIMEOUT),
        read_timeout=timeout,
        verify_ssl=_verify(extra.get("verify_ssl")),
        retry=retry,
    )


def _extra_dict(extra: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            reason = f'{exc.msg} at char {exc.pos}; expected an object, e.g. {{"timeout": 30}}'
            raise MixConfigError("extra", f"is not valid JSON ({reason})") from None
    if not isinstance(extra, Mapping):
        raise MixConfigError("extra", f"must be a JSON object, got {type(extra).__name__}")
    return dict(extra)


def _number(name: str, override: float | None, value: Any) -> float:
    field, minimum = f"extra.{name}", field_minimum(name)
    chosen = override if override is not None else value
    if chosen is None or chosen == "":
        return float(field_default(name))
    try:
        number = float(chosen)
    except (TypeError, ValueError):
        raise MixConfigError(field, f"must be a number >= {minimum:g}, got {chosen!r}") from None
    if isinstance(chosen, bool) or number < minimum or not math.isfinite(number):
        raise MixConfigError(field, f"must be a number >= {minimum:g}, got {chosen!r}")
    return number


def _headers(raw: Any) -> dict[str, str]:
    value = json_object("extra.headers", raw, example='{"X-Key": "..."}')
    if not all(isinstance(v, str) for v in value.values()):
        raise MixConfigError("extra.headers", 'must be a JSON object of strings, e.g. {"X-Key": "..."}')
    return {str(k): v for k, v in value.items()}


def _verify(value: Any) -> bool | str:
    if value is None or value == "":
        return True  # unset (the UI form stores null): verify
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    return check_verify_ssl("extra.verify_ssl", value)  # a CA bundle path


def ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the shape ``get_ui_field_behaviour()`` returns (Airflow 3.0/3.1)."""
    return {key.replace("-", "_"): copy.deepcopy(value) for key, value in UI_FIELD_BEHAVIOUR.items()}


def connection_form_widgets() -> dict[str, Any]:
    """WTForms fields for ``CONN_FIELDS`` (Airflow 3.0/3.1 form); flask_appbuilder/wtforms imported here only.

    Uses only the field classes and widgets Airflow's API server can stand in for when
    flask_appbuilder is not installed (``HookMetaService``): bounds are checked when the hook reads
    the connection, with an error naming the field.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        common = {
            "description": lazy_gettext(spec["description"]),
            "validators": [Optional()],
            "default": schema.get("default"),
        }
        label = lazy_gettext(spec["label"])
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **common)
        elif "boolean" in kinds:
            widgets[name] = BooleanField(label, **common)
        elif "integer" in kinds:
            widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), **common)
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **common)
    return widgets
