"""The one module that speaks httpx: one attempt of a call, byte streams and SSE, sync and async.

Swapping the HTTP library means rewriting this file only. Errors leave it as :mod:`mix_provider.errors`.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource

from mix_provider.client._network import AsyncioBackend
from mix_provider.client.config import ClientConfig
from mix_provider.client.lanes import Slots
from mix_provider.client.operations import Call
from mix_provider.client.responses import api_error, parse_body
from mix_provider.client.stream import StreamEvent
from mix_provider.errors import MixConfigError, MixTransportError

T = TypeVar("T")
log = logging.getLogger("mix_provider.client")

#: Failures that happen before the request could reach the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
#: Requests (JSON calls and downloads) in flight at once on one async client, and its idle connections;
#: more wait their turn in an asyncio semaphore rather than in httpcore's queue. At every request's
#: start and end httpcore checks each connection of the pool (a socket poll for each idle one, and a
#: pass over all of them per idle one), so a shared client (:mod:`.shared`) keeps its pool small.
REQUEST_SLOTS = 8
#: SSE streams per stream pool. Each stream holds its connection for the whole wait, and httpcore
#: scans every connection of a pool whenever a request starts or ends, so streams are spread over
#: small pools, apart from the requests' pool.
STREAMS_PER_POOL = 16
#: The connection limits of a stream pool's client: httpx's defaults (it never holds more than
#: :data:`STREAMS_PER_POOL` streams).
STREAM_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def transport_error(method: str, path: str, exc: httpx.HTTPError) -> MixTransportError:
    """Translate an httpx failure; ``sent`` tells whether the server may have seen the request."""
    return MixTransportError(
        method,
        path,
        f"{type(exc).__name__}: {exc}",
        sent=not isinstance(exc, _NOT_SENT),
        timed_out=isinstance(exc, httpx.ReadTimeout),
    )


@functools.cache
def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per ``verify_ssl`` setting and process, shared by every client.

    Building one loads the whole CA bundle; httpx would do it for each new client,
    i.e. for every hook, task and trigger. A CA bundle changed on disk is read by the next process.
    """
    try:
        return httpx.create_ssl_context(verify=verify)
    except (OSError, ssl.SSLError) as exc:  # a path that exists but holds no readable CA certificates
        raise MixConfigError("verify_ssl", f"{verify!r} is not a readable CA bundle ({exc})") from None


def _client_options(config: ClientConfig) -> dict[str, Any]:
    return {
        "base_url": config.base_url,
        "headers": config.request_headers(),
        "timeout": httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
        "verify": tls_context(config.verify_ssl),
        "follow_redirects": False,
    }


def _finish(call: Call[T], response: httpx.Response, started: float, config: ClientConfig) -> T:
    if log.isEnabledFor(logging.DEBUG):
        took = (time.perf_counter() - started) * 1000
        log.debug("Mix %s %s -> %d in %.1f ms", call.method, call.path, response.status_code, took)
    if response.status_code >= 400:
        status, headers, content = response.status_code, response.headers, response.content
        error = api_error(call.method, call.path, status, headers, content, config.secret_values())
        raise call.refine(error) if call.refine is not None else error
    if call.from_headers is not None:
        return call.from_headers(response.headers)
    return parse_body(call, response.status_code, response.content)


@contextmanager
def _content(call: Call[Any]) -> Iterator[dict[str, Any]]:
    """The query and body arguments of one attempt: the JSON body, or the upload opened afresh."""
    if call.upload is None:
        yield {"params": call.params, "json": call.body}
        return
    upload = call.upload
    try:
        handle = upload.open()
    except OSError as exc:
        raise MixConfigError("source", f"{upload.filename} cannot be read: {exc}") from None
    with handle:
        yield {"params": call.params, "files": {upload.field: (upload.filename, handle, upload.content_type)}}


def _asyncio_transport(config: ClientConfig, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport and connection pool, its sockets on plain asyncio (:mod:`._network`).

    httpx takes no network backend; its transport's pool (``_pool``, an httpcore pool) is given
    one, every other setting of the pool as httpx chose it.
    """
    transport = httpx.AsyncHTTPTransport(verify=tls_context(config.verify_ssl), limits=limits)
    transport._pool._network_backend = AsyncioBackend()
    return transport


def _sse_options(config: ClientConfig, call: Call[Any], read_timeout: float | None) -> dict[str, Any]:
    """Query, headers and timeouts of an SSE request (silence limit ``read_timeout``, else the stream timeout)."""
    timeout = httpx.Timeout(read_timeout or config.stream_timeout, connect=config.connect_timeout)
    return {"params": call.params, "headers": _SSE_HEADERS, "timeout": timeout}


class SyncHTTP:
    """Blocking HTTP on one pooled keep-alive ``httpx.Client``.

    :param config: client settings.
    :param transport: optional httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.Client(transport=transport, **_client_options(config))

    def request(self, call: Call[T]) -> T:
        """Make one attempt of ``call`` and parse its answer."""
        started = time.perf_counter()
        try:
            with _content(call) as content:
                response = self._client.request(call.method, call.path, **content)
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc
        return _finish(call, response, started, self.config)

    @contextmanager
    def stream(self, call: Call[Any]) -> Iterator[Iterator[bytes]]:
        """Open ``call`` and yield an iterator over its body chunks (error statuses raise first)."""
        try:
            with self._client.stream(call.method, call.path, params=call.params, json=call.body) as response:
                if response.status_code >= 400:
                    response.read()
                    _finish(call, response, time.perf_counter(), self.config)
                yield _translate(call, response.iter_bytes())
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc

    @contextmanager
    def events(self, call: Call[Any], read_timeout: float | None = None) -> Iterator[Iterator[StreamEvent]]:
        """Open the SSE ``call`` and yield an iterator of parsed events (silence limit ``read_timeout``)."""
        try:
            with self._client.stream("GET", call.path, **_sse_options(self.config, call, read_timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    _finish(call, response, time.perf_counter(), self.config)
                source = EventSource(response)
                yield _translate(call, (StreamEvent.parse(e.event, e.data, e.id) for e in source.iter_sse()))
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


class AsyncHTTP:
    """Non-blocking HTTP on one pooled keep-alive ``httpx.AsyncClient``.

    :param config: client settings.
    :param transport: optional async httpx transport (mock or ``httpx.ASGITransport``).
    """

    def __init__(self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        slots = httpx.Limits(max_connections=REQUEST_SLOTS, max_keepalive_connections=REQUEST_SLOTS)
        self._client = httpx.AsyncClient(
            transport=transport or _asyncio_transport(config, slots), **_client_options(config)
        )
        self._slots = Slots(REQUEST_SLOTS)
        self._streams = _StreamPools(
            lambda: httpx.AsyncClient(
                transport=transport or _asyncio_transport(config, STREAM_LIMITS), **_client_options(config)
            )
        )

    async def request(self, call: Call[T]) -> T:
        """Make one attempt of ``call`` and parse its answer."""
        started = time.perf_counter()
        try:
            async with self._slots.hold():
                with _content(call) as content:  # an upload's file is read by blocking calls, in chunks
                    response = await self._client.request(call.method, call.path, **content)
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc
        return _finish(call, response, started, self.config)

    @asynccontextmanager
    async def stream(self, call: Call[Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open ``call`` and yield an async iterator over its body chunks (error statuses raise first)."""
        try:
            async with (
                self._slots.hold(),
                self._client.stream(call.method, call.path, params=call.params, json=call.body) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    _finish(call, response, time.perf_counter(), self.config)
                yield _atranslate(call, response.aiter_bytes())
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc

    @asynccontextmanager
    async def events(
        self, call: Call[Any], read_timeout: float | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        """Open the SSE ``call`` and yield an async iterator of parsed events (silence limit ``read_timeout``)."""
        try:
            async with (
                self._streams.client() as client,
                client.stream("GET", call.path, **_sse_options(self.config, call, read_timeout)) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    _finish(call, response, time.perf_counter(), self.config)
                yield _atranslate(call, _aparse(EventSource(response)))
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()
        await self._streams.close()


class _StreamPools:
    """Async clients for SSE streams, at most :data:`STREAMS_PER_POOL` streams open on each.

    :param make: builds one more client.
    """

    def __init__(self, make: Callable[[], httpx.AsyncClient]) -> None:
        self._make = make
        self._open: dict[httpx.AsyncClient, int] = {}

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """A client with room for one more stream, held for the stream's life."""
        client = next((c for c, streams in self._open.items() if streams < STREAMS_PER_POOL), None) or self._make()
        self._open[client] = self._open.get(client, 0) + 1
        try:
            yield client
        finally:
            self._open[client] -= 1

    async def close(self) -> None:
        """Close every client."""
        clients, self._open = list(self._open), {}
        for client in clients:
            await client.aclose()


async def _aparse(source: EventSource) -> AsyncIterator[StreamEvent]:
    async for sse in source.aiter_sse():
        yield StreamEvent.parse(sse.event, sse.data, sse.id)


def _translate(call: Call[Any], items: Iterator[T]) -> Iterator[T]:
    """``items``, with httpx errors met while reading the body raised as :class:`MixTransportError`.

    The caller iterates inside its own ``with`` block and may catch errors there, before the context
    manager's own translation could see them.
    """
    try:
        yield from items
    except httpx.HTTPError as exc:
        raise transport_error(call.method, call.path, exc) from exc


async def _atranslate(call: Call[Any], items: AsyncIterator[T]) -> AsyncIterator[T]:
    """Async :func:`_translate`."""
    try:
        async for item in items:
            yield item
    except httpx.HTTPError as exc:
        raise transport_error(call.method, call.path, exc) from exc
