"""The Airflow 3.0/3.1 connection form: generated from ``CONN_FIELDS``, the same as the declarative one."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from mix_provider.errors import MixConfigError
from mix_provider.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
from mix_provider.hooks.connection import ConnectionFields, config_from_connection
from mix_provider.hooks.mix import MixHook


class _Field:
    """A stand-in WTForms field class: records what it was built with."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        self.label, self.kwargs = label, kwargs


class StringField(_Field): ...


class IntegerField(_Field): ...


class BooleanField(_Field): ...


class PasswordField(_Field): ...


class Optional:
    """Stand-in for ``wtforms.validators.Optional``."""


class TextWidget: ...


class PasswordWidget: ...


@pytest.fixture
def fake_fab(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for flask_appbuilder, flask_babel and wtforms, as Airflow's API server provides them."""
    modules = {
        "flask_appbuilder": types.ModuleType("flask_appbuilder"),
        "flask_appbuilder.fieldwidgets": types.ModuleType("flask_appbuilder.fieldwidgets"),
        "flask_babel": types.ModuleType("flask_babel"),
        "wtforms": types.ModuleType("wtforms"),
        "wtforms.validators": types.ModuleType("wtforms.validators"),
    }
    attrs: dict[str, dict[str, Any]] = {
        "flask_appbuilder.fieldwidgets": {"BS3TextFieldWidget": TextWidget, "BS3PasswordFieldWidget": PasswordWidget},
        "flask_babel": {"lazy_gettext": lambda text: text},
        "wtforms": {
            "StringField": StringField,
            "IntegerField": IntegerField,
            "BooleanField": BooleanField,
            "PasswordField": PasswordField,
        },
        "wtforms.validators": {"Optional": Optional},
    }
    for name, module in modules.items():
        for attr, value in attrs.get(name, {}).items():
            setattr(module, attr, value)
        monkeypatch.setitem(sys.modules, name, module)


def test_without_flask_appbuilder_the_widgets_raise_the_import_error_airflow_expects() -> None:
    # Airflow 3.0/3.1 catch ImportError named flask_appbuilder/wtforms: "UI widgets will be missing".
    pytest.importorskip("airflow")
    if "flask_appbuilder" in sys.modules or _importable("flask_appbuilder"):
        pytest.fail("flask_appbuilder is installed in the dev venv; this test expects it absent")
    with pytest.raises(ImportError) as raised:
        MixHook.get_connection_form_widgets()
    assert raised.value.name in ("flask_appbuilder", "wtforms", "flask_babel")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_widgets_are_generated_from_conn_fields(fake_fab: None) -> None:
    widgets = MixHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)
    kinds = {name: type(widget) for name, widget in widgets.items()}
    assert kinds == {
        "timeout": StringField,
        "verify_ssl": BooleanField,
        "max_retries": IntegerField,
        "retry_max_wait": StringField,
        "headers": PasswordField,
        "agents": StringField,
        "ui_url": StringField,
    }
    for name, spec in CONN_FIELDS.items():
        widget = widgets[name]
        assert widget.label == spec["label"]
        assert widget.kwargs["description"] == spec["description"]
        assert widget.kwargs["default"] == spec["schema"].get("default")
        assert [type(v) for v in widget.kwargs["validators"]] == [Optional]
    assert isinstance(widgets["headers"].kwargs["widget"], PasswordWidget)
    assert isinstance(widgets["timeout"].kwargs["widget"], TextWidget)


def test_widgets_follow_a_changed_definition(fake_fab: None, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = {**CONN_FIELDS, "timeout": {**CONN_FIELDS["timeout"], "label": "Request timeout"}}
    monkeypatch.setattr("mix_provider.hooks.connection.CONN_FIELDS", changed)
    assert MixHook.get_connection_form_widgets()["timeout"].label == "Request timeout"


def test_widgets_match_what_airflow_serves_for_the_declarative_fields() -> None:
    """Through the API server's own stand-ins: the 3.0/3.1 form equals the 3.2+ form, field by field."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    stand_ins = {
        "StringField": HookMetaService.MockStringField,
        "IntegerField": HookMetaService.MockIntegerField,
        "BooleanField": HookMetaService.MockBooleanField,
        "PasswordField": HookMetaService.MockPasswordField,
    }
    with pytest.MonkeyPatch.context() as patch:
        wtforms = types.ModuleType("wtforms")
        for attr, cls in stand_ins.items():
            setattr(wtforms, attr, cls)
        validators = types.ModuleType("wtforms.validators")
        validators.Optional = HookMetaService.MockOptional  # type: ignore[attr-defined]
        widgets_mod = types.ModuleType("flask_appbuilder.fieldwidgets")
        widgets_mod.BS3TextFieldWidget = HookMetaService.MockAnyWidget  # type: ignore[attr-defined]
        widgets_mod.BS3PasswordFieldWidget = HookMetaService.MockAnyWidget  # type: ignore[attr-defined]
        babel = types.ModuleType("flask_babel")
        babel.lazy_gettext = lambda text: text  # type: ignore[attr-defined]
        for name, module in {
            "wtforms": wtforms,
            "wtforms.validators": validators,
            "flask_appbuilder": types.ModuleType("flask_appbuilder"),
            "flask_appbuilder.fieldwidgets": widgets_mod,
            "flask_babel": babel,
        }.items():
            patch.setitem(sys.modules, name, module)
        generated = {name: w.param.dump() for name, w in MixHook.get_connection_form_widgets().items()}
    for name, spec in CONN_FIELDS.items():
        schema = generated[name]["schema"]
        assert schema["title"] == spec["label"], name
        assert generated[name]["description"] == spec["description"], name
        # (defaults: asserted above and, as each Airflow renders them, by `make compat`'s conn-form check)
        assert schema.get("format") == spec["schema"].get("format"), name


def test_ui_field_behaviour_is_the_declarative_one_in_hook_form() -> None:
    (conn_type,) = get_provider_info()["connection-types"]
    declared = conn_type["ui-field-behaviour"]
    assert MixHook.get_ui_field_behaviour() == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }
    assert declared == UI_FIELD_BEHAVIOUR
    assert conn_type["conn-fields"] == CONN_FIELDS


def test_provider_info_hands_out_copies() -> None:
    get_provider_info()["connection-types"][0]["conn-fields"]["timeout"]["label"] = "changed"
    assert CONN_FIELDS["timeout"]["label"] == "Timeout (s)"


@pytest.mark.parametrize("name", ["timeout", "max_retries", "retry_max_wait"])
def test_the_parser_takes_defaults_and_bounds_from_conn_fields(name: str) -> None:
    schema = CONN_FIELDS[name]["schema"]
    config = config_from_connection(ConnectionFields("mix.internal"))
    defaults = {
        "timeout": config.read_timeout,
        "max_retries": config.retry.max_retries,
        "retry_max_wait": config.retry.max_wait,
    }
    assert defaults[name] == schema["default"]
    config_from_connection(ConnectionFields("mix.internal", extra={name: schema["minimum"]}))
    below = schema["minimum"] - (1 if name == "max_retries" else 0.01)
    with pytest.raises(MixConfigError, match=f"extra.{name}"):
        config_from_connection(ConnectionFields("mix.internal", extra={name: below}))
