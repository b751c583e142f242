"""The async client's sockets on plain asyncio (``client/_network.py``), against loopback servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpcore
import pytest

from mix_provider.client import AsyncMixClient, ClientConfig
from mix_provider.client import operations as ops
from mix_provider.client._network import HIGH_WATER, AsyncioBackend, Stream

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A loopback TCP server running ``handler`` per connection; its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def connect(port: int) -> Stream:
    return await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)


async def test_reads_what_the_server_wrote_then_the_end() -> None:
    async def hello(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    async with serving(hello) as port:
        stream = await connect(port)
        received = b""
        while chunk := await stream.read(3, timeout=5):
            assert len(chunk) <= 3
            received += chunk
        assert received == b"hello"
        assert await stream.read(10, timeout=5) == b""
        await stream.aclose()


async def test_an_idle_socket_is_readable_once_the_server_closed_it() -> None:
    closing = asyncio.Event()

    async def close_when_told(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await closing.wait()
        writer.close()

    async with serving(close_when_told) as port:
        stream = await connect(port)
        await asyncio.sleep(0.05)
        assert stream.get_extra_info("is_readable") is False
        closing.set()
        for _ in range(100):
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert stream.get_extra_info("is_readable") is True
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        await stream.aclose()


async def test_a_silent_server_times_the_read_out_and_a_later_read_still_gets_the_data() -> None:
    speak = asyncio.Event()

    async def late(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await speak.wait()
        writer.write(b"late")
        await writer.drain()

    async with serving(late) as port:
        stream = await connect(port)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=0.05)
        speak.set()
        assert await stream.read(10, timeout=5) == b"late"
        await stream.aclose()


async def test_a_cancelled_read_leaves_the_stream_usable() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(10))
        await writer.drain()

    async with serving(echo) as port:
        stream = await connect(port)
        reading = asyncio.create_task(stream.read(10))
        await asyncio.sleep(0.01)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        await stream.write(b"ping", timeout=5)
        assert await stream.read(10, timeout=5) == b"ping"
        await stream.aclose()


async def test_a_reader_behind_pauses_the_socket_and_loses_nothing() -> None:
    size = 3 * HIGH_WATER
    payload = bytes(range(256)) * (size // 256)

    async def flood(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()

    async with serving(flood) as port:
        stream = await connect(port)
        await asyncio.sleep(0.5)  # the server writes while nobody reads: the buffer stops at the high-water mark
        buffered = sum(len(chunk) for chunk in stream._buffer.chunks)
        assert stream._buffer.paused
        assert HIGH_WATER < buffered <= HIGH_WATER + (1 << 18)  # asyncio reads at most 256 KiB at a time
        received = bytearray()
        while chunk := await stream.read(1 << 16, timeout=5):
            received += chunk
        assert received == payload


async def test_writes_reach_the_server() -> None:
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def collect(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        got.set_result(await reader.readexactly(4 << 20))

    async with serving(collect) as port:
        stream = await connect(port)
        data = b"x" * (4 << 20)
        await stream.write(data, timeout=5)
        assert await asyncio.wait_for(got, 5) == data
        await stream.aclose()
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"more", timeout=5)


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serving(lambda _, writer: asyncio.sleep(0)) as port:
        pass  # the port is free again
    with pytest.raises(httpcore.ConnectError):
        await connect(port)


async def test_the_async_client_connects_through_this_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the backend works: ``AsyncMixClient`` (no transport given) uses it for its requests."""
    connected: list[tuple[str, int]] = []
    original = AsyncioBackend.connect_tcp

    async def recording(self: AsyncioBackend, host: str, port: int, *args: Any, **kwargs: Any) -> Stream:
        connected.append((host, port))
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(AsyncioBackend, "connect_tcp", recording)
    body = json.dumps({"status": "ok", "version": "asyncio"}).encode()

    async def health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async with serving(health) as port, AsyncMixClient(ClientConfig(base_url=f"http://127.0.0.1:{port}")) as client:
        assert (await client.execute(ops.health())).version == "asyncio"
    assert connected == [("127.0.0.1", port)]
