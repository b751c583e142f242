"""Client settings: base URL, auth, timeouts, TLS and the retry policy, validated once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mix_provider.client.validation import check_verify_ssl, positive_number
from mix_provider.defaults import CONNECT_TIMEOUT, MAX_RETRIES, RETRY_MAX_WAIT, TIMEOUT
from mix_provider.errors import MixConfigError

DEFAULT_PORT = 8088
URL_DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a transient failure.

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param initial_wait: first backoff in seconds; later waits grow by ``multiplier`` (with jitter).
    :param max_wait: cap of one wait in seconds, a server's ``Retry-After`` included.
    :param multiplier: growth factor of the exponential backoff.
    """

    max_retries: int = MAX_RETRIES
    initial_wait: float = 0.5
    max_wait: float = RETRY_MAX_WAIT
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise MixConfigError("max_retries", f"must be an integer >= 0, got {self.max_retries!r}")
        for name in ("initial_wait", "max_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise MixConfigError(f"retry_{name}", f"must be a number of seconds >= 0, got {value!r}")
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, (int, float)) or self.multiplier < 1:
            raise MixConfigError("retry_multiplier", f"must be a number >= 1, got {self.multiplier!r}")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a :class:`~mix_provider.client.MixClient` needs to reach a Mix server.

    :param base_url: ``scheme://host:port[/prefix]`` of the server, see :func:`build_base_url`.
    :param token: optional bearer token for a proxy in front of Mix (sent as ``Authorization``).
    :param headers: extra headers sent with every request.
    :param connect_timeout: seconds to establish a connection.
    :param read_timeout: seconds to wait for response bytes (JSON calls and downloads).
    :param stream_timeout: seconds of silence tolerated on the SSE stream (the server's heartbeat is 45 s).
    :param verify_ssl: verify TLS certificates (or a CA bundle path).
    :param retry: the retry policy.
    """

    base_url: str
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = TIMEOUT
    stream_timeout: float = 120.0
    verify_ssl: bool | str = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "stream_timeout"):
            positive_number(name, getattr(self, name))
        values = {"token": self.token, **{f"headers.{k}": v for k, v in self.headers.items()}}
        for name, value in values.items():
            if value is not None and not _header_safe(value):
                # The value may be a secret: never echo it.
                raise MixConfigError(name, "must be printable ASCII without line breaks (value not shown)")
        check_verify_ssl("verify_ssl", self.verify_ssl)

    def __repr__(self) -> str:
        """Like the dataclass repr, with the token and every header value shown as ``***``."""
        headers = {name: "***" for name in self.headers}
        return (
            f"ClientConfig(base_url={self.base_url!r}, token={'***' if self.token else None!r}, "
            f"headers={headers!r}, connect_timeout={self.connect_timeout!r}, read_timeout={self.read_timeout!r}, "
            f"stream_timeout={self.stream_timeout!r}, verify_ssl={self.verify_ssl!r}, retry={self.retry!r})"
        )

    def secret_values(self) -> list[str]:
        """Every secret of the configuration: the token and each extra header value."""
        return [v for v in (self.token, *self.headers.values()) if v]

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request: JSON accept, extra headers, then the bearer token."""
        headers = {"Accept": "application/json", **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def _header_safe(value: object) -> bool:
    """Whether ``value`` can be sent as an HTTP header value as is."""
    return isinstance(value, str) and all(" " <= ch <= "~" or ch == "\t" for ch in value)


def build_base_url(host: str | None, *, scheme: str | None = None, port: int | str | None = None) -> str:
    """Normalise a host into a base URL.

    ``host`` may carry its own scheme, port and path prefix (``https://mix.example.com/agents``);
    otherwise ``scheme`` (default ``http``) and ``port`` complete it. Without any port, a bare host
    gets Mix's 8088 and a full URL its scheme's standard port (80 or 443), as a browser would.

    :raises MixConfigError: naming ``host``, ``schema`` or ``port`` when a part is invalid.
    """
    if not host or not host.strip():
        raise MixConfigError("host", "is required, e.g. 'http://127.0.0.1:8088' or 'mix.internal'")
    raw = host.strip()
    has_scheme = "://" in raw
    parts = urlsplit(raw if has_scheme else f"{scheme or 'http'}://{raw}")
    if parts.scheme not in SCHEMES:
        field_name = "host" if has_scheme else "schema"
        raise MixConfigError(field_name, f"scheme {parts.scheme!r} is not one of {', '.join(SCHEMES)}")
    try:
        url_port = parts.port
    except ValueError as exc:
        raise MixConfigError("host", f"has an invalid port ({exc}); a port is an integer in 1..65535") from None
    if not parts.hostname:
        raise MixConfigError("host", f"{host!r} has no host name")
    default_port = URL_DEFAULT_PORTS[parts.scheme] if has_scheme else DEFAULT_PORT
    final_port = url_port if url_port is not None else _parse_port(port, default=default_port)
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{netloc}:{final_port}{parts.path.rstrip('/')}"


def _parse_port(port: int | str | None, *, default: int) -> int:
    """Return ``port`` as an int in 1..65535 (``default`` when empty)."""
    if port is None or port == "":
        return default
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise MixConfigError("port", f"must be an integer in 1..65535, got {port!r}") from None
    if not 0 < value < 65536:
        raise MixConfigError("port", f"must be an integer in 1..65535, got {value}")
    return value
