"""Reading a ``mix`` connection into client settings: every field, every error naming its field."""

from __future__ import annotations

from typing import Any

import certifi
import pytest

from mix_provider.errors import MixConfigError
from mix_provider.hooks.connection import ConnectionFields, HookOverrides, config_from_connection


def conn(extra: Any = None, **fields: Any) -> ConnectionFields:
    """Connection fields with a default host."""
    return ConnectionFields(**{"host": "mix.internal", **fields}, extra=extra)


def test_defaults() -> None:
    config = config_from_connection(conn())
    assert config.base_url == "http://mix.internal:8088"
    assert config.token is None and dict(config.headers) == {}
    assert config.verify_ssl is True
    assert (config.read_timeout, config.connect_timeout) == (30.0, 10.0)
    assert (config.retry.max_retries, config.retry.max_wait) == (5, 30.0)


def test_schema_port_and_password() -> None:
    config = config_from_connection(conn(schema="https", port=9443, password="pa55-word"))
    assert config.base_url == "https://mix.internal:9443"
    assert config.request_headers()["Authorization"] == "Bearer pa55-word"


def test_host_with_scheme_and_prefix_wins_over_schema_and_port() -> None:
    config = config_from_connection(conn(host="https://proxy.example.com:8443/mix/", schema="http", port=1))
    assert config.base_url == "https://proxy.example.com:8443/mix"


@pytest.mark.parametrize(
    "extra",
    [
        {"timeout": 5, "max_retries": 2, "retry_max_wait": 4, "headers": {"X-Key": "k-value"}, "verify_ssl": False},
        '{"timeout": 5, "max_retries": 2, "retry_max_wait": 4, "headers": {"X-Key": "k-value"}, "verify_ssl": false}',
        {
            "timeout": "5",
            "max_retries": "2",
            "retry_max_wait": "4",
            "headers": '{"X-Key": "k-value"}',
            "verify_ssl": "false",
        },
    ],
    ids=["dict", "json-string", "strings-from-a-form"],
)
def test_extra_as_dict_or_json(extra: Any) -> None:
    config = config_from_connection(conn(extra=extra))
    assert (config.read_timeout, config.connect_timeout) == (5.0, 5.0)
    assert (config.retry.max_retries, config.retry.max_wait) == (2, 4.0)
    assert dict(config.headers) == {"X-Key": "k-value"}
    assert config.verify_ssl is False


@pytest.mark.parametrize("extra", [None, "", {}, {"timeout": None, "verify_ssl": None, "headers": None}])
def test_empty_extra_and_null_fields_mean_defaults(extra: Any) -> None:
    config = config_from_connection(conn(extra=extra))
    assert (config.read_timeout, config.retry.max_retries, config.verify_ssl) == (30.0, 5, True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("1", True), ("no", False), (certifi.where(), certifi.where()), ("", True)],
)
def test_verify_ssl(value: Any, expected: bool | str) -> None:
    assert config_from_connection(conn(extra={"verify_ssl": value})).verify_ssl == expected


def test_overrides_win_over_extra() -> None:
    extra = {"timeout": 50, "max_retries": 7, "retry_max_wait": 9}
    config = config_from_connection(conn(extra=extra), HookOverrides(timeout=2, max_retries=0, retry_max_wait=0.5))
    assert (config.read_timeout, config.connect_timeout) == (2.0, 2.0)
    assert (config.retry.max_retries, config.retry.max_wait) == (0, 0.5)
    partial = config_from_connection(conn(extra=extra), HookOverrides(max_retries=1))
    assert (partial.read_timeout, partial.retry.max_retries, partial.retry.max_wait) == (50.0, 1, 9.0)


@pytest.mark.parametrize(
    ("fields", "extra", "field"),
    [
        ({"host": None}, None, "host"),
        ({"host": ""}, None, "host"),
        ({"host": "ftp://mix"}, None, "host"),
        ({"schema": "gopher"}, None, "schema"),
        ({"port": "http"}, None, "port"),
        ({}, "{not json", "extra"),
        ({}, "[1, 2]", "extra"),
        ({}, {"timeout": 0}, "extra.timeout"),
        ({}, {"timeout": "fast"}, "extra.timeout"),
        ({}, {"timeout": "inf"}, "extra.timeout"),
        ({}, {"timeout": True}, "extra.timeout"),
        ({}, {"max_retries": -1}, "extra.max_retries"),
        ({}, {"max_retries": 2.5}, "extra.max_retries"),
        ({}, {"max_retries": "many"}, "extra.max_retries"),
        ({}, {"retry_max_wait": -3}, "extra.retry_max_wait"),
        ({}, {"retry_max_wait": "nan"}, "extra.retry_max_wait"),
        ({}, {"headers": "{bad"}, "extra.headers"),
        ({}, {"headers": ["X-A", "b"]}, "extra.headers"),
        ({}, {"headers": {"X-A": 1}}, "extra.headers"),
        ({}, {"verify_ssl": 3}, "extra.verify_ssl"),
    ],
)
def test_errors_name_the_field(fields: dict[str, Any], extra: Any, field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        config_from_connection(conn(extra=extra, **fields))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (HookOverrides(timeout=-1), "extra.timeout"),
        (HookOverrides(max_retries=-2), "extra.max_retries"),
        (HookOverrides(retry_max_wait=-0.1), "extra.retry_max_wait"),
    ],
)
def test_bad_overrides_are_refused(overrides: HookOverrides, field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        config_from_connection(conn(), overrides)
    assert info.value.field == field


def test_bad_json_error_does_not_echo_the_extra() -> None:
    secret = '{"headers": {"X-Key": "s3cret-value"'
    with pytest.raises(MixConfigError) as info:
        config_from_connection(conn(extra=secret))
    assert "s3cret-value" not in str(info.value)
