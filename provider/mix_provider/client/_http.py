"""The one module that speaks httpx: one attempt of a call, byte streams and SSE, sync and async.

Swapping the HTTP library means rewriting this file only. Errors leave it as :mod:`mix_provider.errors`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import IO, Any, TypeVar, cast

import httpx
from httpx_sse import EventSource

from mix_provider.client._network import AsyncioBackend
from mix_provider.client.config import ClientConfig
from mix_provider.client.lanes import Slots
from mix_provider.client.operations import Call, Upload
from mix_provider.client.responses import api_error, parse_answer
from mix_provider.client.stream import StreamEvent
from mix_provider.errors import MixConfigError, MixTransportError

T = TypeVar("T")
log = logging.getLogger("mix_provider.client")

#: Failures that happen before the request could reach the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
#: Bytes of an async upload read per trip to a worker thread: a trip per 64 KiB chunk of httpx's
#: multipart encoder costs throughput (``benchmarks/README.md``, files); memory stays this small.
OFF_LOOP_BYTES = 1 << 20
#: Requests (JSON calls and downloads) in flight at once on one async client; more wait their turn in
#: its lanes (:class:`~mix_provider.client.lanes.Slots`) rather than in httpcore's queue. Each slot
#: has its own pool of one keep-alive connection: at every request's start and end httpcore checks
#: each connection of a pool, and for each idle one counts them all again, so one pool of 8 cost
#: about 250 such checks a request (a fifth of a transcript read's CPU in a triggerer).
REQUEST_SLOTS = 8
#: SSE streams per stream pool. Each stream holds its connection for the whole wait, and httpcore
#: scans every connection of a pool whenever a request starts or ends, so streams are spread over
#: small pools, apart from the requests' pool.
STREAMS_PER_POOL = 16
#: The connection limits of a stream pool's client: httpx's defaults (it never holds more than
#: :data:`STREAMS_PER_POOL` streams).
STREAM_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
#: The connection limits of a request slot's client: one connection, kept alive.
SLOT_LIMITS = httpx.Limits(max_connections=1, max_keepalive_connections=1)


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
    return parse_answer(call, response.status_code, response.headers, response.content)


def _open(upload: Upload) -> IO[bytes]:
    try:
        return upload.open()
    except OSError as exc:
        raise MixConfigError("source", f"{upload.filename} cannot be read: {exc}") from None


def _files(upload: Upload, handle: IO[bytes]) -> dict[str, Any]:
    return {upload.field: (upload.filename, handle, upload.content_type)}


@contextmanager
def _content(call: Call[Any]) -> Iterator[dict[str, Any]]:
    """The query and body arguments of one attempt: the JSON body, or the upload opened afresh."""
    if call.upload is None:
        yield {"params": call.params, "json": call.body}
        return
    with _open(call.upload) as handle:
        yield {"params": call.params, "files": _files(call.upload, handle)}


@asynccontextmanager
async def _acontent(call: Call[Any]) -> AsyncIterator[dict[str, Any]]:
    """Async :func:`_content`: the upload is opened, read and closed in worker threads, chunk by chunk.

    A file object's calls block (a local disk, or the network for ``s3://``); made on the event loop
    they would stall the triggerer's other waits. httpx encodes the multipart body (boundary, part
    headers, length) as for a sync request; only its chunks are produced off the loop.
    """
    if call.upload is None:
        yield {"params": call.params, "json": call.body}
        return
    upload = call.upload
    handle = await asyncio.to_thread(_open, upload)
    try:
        encoded = await asyncio.to_thread(
            httpx.Request, call.method, "http://upload.invalid", files=_files(upload, handle)
        )
        framing = {key: value for key, value in encoded.headers.items() if key in ("content-type", "content-length")}
        body = _off_loop(cast("Iterable[bytes]", encoded.stream))  # httpx's multipart stream is sync and async
        yield {"params": call.params, "headers": framing, "content": body}
    finally:
        await asyncio.to_thread(handle.close)


async def _off_loop(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """``chunks``, produced in worker threads (about :data:`OFF_LOOP_BYTES` per trip), so the event
    loop never waits on a read."""
    iterator = iter(chunks)
    while batch := await asyncio.to_thread(_take, iterator, OFF_LOOP_BYTES):
        for chunk in batch:
            yield chunk


def _take(chunks: Iterator[bytes], limit: int) -> list[bytes]:
    """The next chunks of ``chunks``, until ``limit`` bytes or the end (an empty list)."""
    taken: list[bytes] = []
    size = 0
    for chunk in chunks:
        taken.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return taken


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
    def events(
        self,
        call: Call[Any],
        read_timeout: float | None = None,
        on_open: Callable[[httpx.Response], None] | None = None,
    ) -> Iterator[Iterator[StreamEvent]]:
        """Open the SSE ``call`` and yield an iterator of parsed events (silence limit ``read_timeout``);
        ``on_open`` is handed the open response (to cut a read blocked in another thread)."""
        try:
            with self._client.stream("GET", call.path, **_sse_options(self.config, call, read_timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    _finish(call, response, time.perf_counter(), self.config)
                if on_open is not None:
                    on_open(response)
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
        self._slots = Slots(REQUEST_SLOTS)
        self._transport = transport
        self._clients: dict[int, httpx.AsyncClient] | None = {}  # by slot, made on first use; None once closed
        self._streams = _StreamPools(lambda: self._new_client(STREAM_LIMITS))

    def _new_client(self, limits: httpx.Limits) -> httpx.AsyncClient:
        transport = self._transport or _asyncio_transport(self.config, limits)
        return httpx.AsyncClient(transport=transport, **_client_options(self.config))

    @asynccontextmanager
    async def _slot_client(self) -> AsyncIterator[httpx.AsyncClient]:
        """Hold a request slot, and its client (one connection), for the block."""
        async with self._slots.hold() as slot:
            if self._clients is None:
                raise RuntimeError("the Mix client has been closed")
            if (client := self._clients.get(slot)) is None:
                client = self._clients[slot] = self._new_client(SLOT_LIMITS)
            yield client

    async def request(self, call: Call[T]) -> T:
        """Make one attempt of ``call`` and parse its answer."""
        started = time.perf_counter()
        try:
            async with self._slot_client() as client, _acontent(call) as content:
                response = await client.request(call.method, call.path, **content)
        except httpx.HTTPError as exc:
            raise transport_error(call.method, call.path, exc) from exc
        return _finish(call, response, started, self.config)

    @asynccontextmanager
    async def stream(self, call: Call[Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open ``call`` and yield an async iterator over its body chunks (error statuses raise first)."""
        try:
            async with (
                self._slot_client() as client,
                client.stream(call.method, call.path, params=call.params, json=call.body) as response,
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
        clients, self._clients = list((self._clients or {}).values()), None
        for client in clients:
            await client.aclose()
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
