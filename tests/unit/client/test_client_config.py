"""Base URL building and client settings validation: each error names the field at fault."""

from __future__ import annotations

import ssl

import pytest

from mix_provider.client import ClientConfig, build_base_url
from mix_provider.errors import MixConfigError


@pytest.mark.parametrize(
    ("host", "kwargs", "expected"),
    [
        ("127.0.0.1", {}, "http://127.0.0.1:8088"),
        ("mix.internal", {"port": 9000}, "http://mix.internal:9000"),
        ("mix.internal", {"port": "9000"}, "http://mix.internal:9000"),
        ("mix.internal", {"scheme": "https"}, "https://mix.internal:8088"),
        ("http://127.0.0.1:8088", {}, "http://127.0.0.1:8088"),
        ("http://127.0.0.1:8088/", {}, "http://127.0.0.1:8088"),
        ("https://mix.example.com", {"port": 443}, "https://mix.example.com:443"),
        ("https://mix.example.com:8443/agents/", {"port": 1}, "https://mix.example.com:8443/agents"),
        ("https://mix.example.com/a/b//", {}, "https://mix.example.com:443/a/b"),
        ("http://mix.example.com", {}, "http://mix.example.com:80"),
        ("  http://mix:1234  ", {}, "http://mix:1234"),
        ("mix:7000/prefix", {"scheme": "https"}, "https://mix:7000/prefix"),
        ("[::1]", {}, "http://[::1]:8088"),
        ("http://[::1]:9090/x", {}, "http://[::1]:9090/x"),
        ("mix", {"port": ""}, "http://mix:8088"),
    ],
)
def test_build_base_url(host: str, kwargs: dict[str, object], expected: str) -> None:
    assert build_base_url(host, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "kwargs", "field"),
    [
        (None, {}, "host"),
        ("", {}, "host"),
        ("   ", {}, "host"),
        ("ftp://mix", {}, "host"),
        ("mix", {"scheme": "ftp"}, "schema"),
        ("mix", {"port": "eighty"}, "port"),
        ("mix", {"port": 0}, "port"),
        ("mix", {"port": 70000}, "port"),
        ("http://mix:notaport", {}, "host"),
        ("http://:8088", {}, "host"),
        ("::1", {"port": 8000}, "host"),
    ],
)
def test_build_base_url_errors_name_the_field(host: str | None, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        build_base_url(host, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["connect_timeout", "read_timeout", "stream_timeout"])
@pytest.mark.parametrize("value", [0, -1, True, "10"])
def test_timeouts_must_be_positive_numbers(name: str, value: object) -> None:
    with pytest.raises(MixConfigError) as info:
        ClientConfig("http://mix:8088", **{name: value})  # type: ignore[arg-type]
    assert info.value.field == name


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"token": "abc\r\nX-Evil: 1"}, "token"),
        ({"token": "tökén-value"}, "token"),
        ({"headers": {"X-Key": "line\nbreak-secret"}}, "headers.X-Key"),
    ],
)
def test_unsendable_secrets_are_refused_without_echo(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(MixConfigError) as info:
        ClientConfig("http://mix:8088", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    for value in [kwargs.get("token"), *dict(kwargs.get("headers", {})).values()]:  # type: ignore[call-overload]
        if value:
            assert str(value) not in str(info.value)


def test_request_headers_and_secret_values() -> None:
    config = ClientConfig("http://mix:8088", token="t0ken-value", headers={"X-A": "a-value", "Accept": "text/x"})
    assert config.request_headers() == {
        "Accept": "text/x",
        "X-A": "a-value",
        "Authorization": "Bearer t0ken-value",
    }
    assert sorted(config.secret_values()) == ["a-value", "t0ken-value", "text/x"]
    assert ClientConfig("http://mix:8088").secret_values() == []


def test_tls_context_is_built_once_per_setting() -> None:
    from mix_provider.client._http import tls_context

    assert tls_context(True) is tls_context(True)
    assert tls_context(True).verify_mode == ssl.CERT_REQUIRED and tls_context(True).check_hostname
    assert tls_context(False).verify_mode == ssl.CERT_NONE and tls_context(False) is not tls_context(True)
