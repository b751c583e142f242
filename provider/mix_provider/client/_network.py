"""httpcore's network layer on plain asyncio, for the async client's connections.

httpcore runs asyncio sockets through anyio: every read of a stream goes through a cancel scope
(``fail_after``), pauses and resumes the transport's reading (two ``epoll_ctl`` calls), and every
request polls each idle pooled socket through anyio's typed attributes. A triggerer following a
thousand SSE streams pays that on every event. This backend keeps each socket readable for its whole
life (data and end of stream land in a buffer as they arrive, with ordinary flow control), waits for
data on one future with one timer, and answers httpcore's "is this idle socket readable" from that
buffer without a system call.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

#: Bytes buffered from one socket before its reading pauses until the reader catches up.
HIGH_WATER = 1 << 20


class _Buffer(asyncio.Protocol):
    """What a connection received and whether it ended: filled by the loop, drained by :class:`Stream`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.ended = False
        self.error: BaseException | None = None
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close the transport: HTTP/1.1 never half-closes

    def connection_lost(self, exc: BaseException | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self.drained is None:
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def _within(future: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
    """Await ``future``; after ``timeout`` seconds (None: never) it fails with ``error``."""
    if timeout is None:
        await future
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, future, error(f"no progress in {timeout:g} s"))
    try:
        await future
    finally:
        timer.cancel()


def _expire(future: asyncio.Future[None], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


class Stream(httpcore.AsyncNetworkStream):
    """One connection (plain TCP, or TLS over it) read from its buffer."""

    def __init__(self, transport: asyncio.Transport, buffer: _Buffer) -> None:
        self._transport = transport
        self._buffer = buffer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        buffer = self._buffer
        if not buffer.chunks and not buffer.ended:
            buffer.waiter = asyncio.get_running_loop().create_future()
            try:
                await _within(buffer.waiter, timeout, httpcore.ReadTimeout)
            finally:
                buffer.waiter = None
        if not buffer.chunks:
            if buffer.error is not None:
                raise httpcore.ReadError(str(buffer.error) or type(buffer.error).__name__)
            return b""
        chunk = buffer.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            buffer.chunks.appendleft(rest)
        buffer.size -= len(chunk)
        if buffer.paused and buffer.size <= HIGH_WATER // 2:
            buffer.paused = False
            self._transport.resume_reading()
        return chunk

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if not data:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(data)
        if self._buffer.drained is not None:
            await _within(self._buffer.drained, timeout, httpcore.WriteTimeout)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> Stream:
        loop = asyncio.get_running_loop()
        try:
            upgraded = await asyncio.wait_for(
                loop.start_tls(self._transport, self._buffer, ssl_context, server_hostname=server_hostname),
                timeout,
            )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if upgraded is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._buffer.transport = upgraded
        return Stream(upgraded, self._buffer)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection with data or its end waiting: the server closed it
            return bool(self._buffer.chunks) or self._buffer.ended
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        return self._transport.get_extra_info(name)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections on the running asyncio loop's own transports (see the module docstring)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Stream:
        local = None if local_address is None else (local_address, 0)
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(_Buffer, host, port, local_addr=local)
        transport, buffer = await self._connect(connecting, timeout)
        sock: socket.socket = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return Stream(transport, buffer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Stream:
        transport, buffer = await self._connect(
            asyncio.get_running_loop().create_unix_connection(_Buffer, path), timeout
        )
        return Stream(transport, buffer)

    @staticmethod
    async def _connect(connecting: Any, timeout: float | None) -> tuple[asyncio.Transport, _Buffer]:
        try:
            transport, buffer = await asyncio.wait_for(connecting, timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection in {timeout} s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return transport, buffer

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
