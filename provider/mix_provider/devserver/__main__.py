"""``mix-devserver`` / ``python -m mix_provider.devserver``: run the local Mix server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

import uvicorn

from mix_provider.devserver.app import create_app
from mix_provider.devserver.settings import (
    DEFAULT_PERMISSION_TIMEOUT_S,
    DEFAULT_PORT,
    DEFAULT_REPLY_DELAY_MS,
    DEFAULT_TIE_ORDER,
    GENERATIONS,
    TIE_ORDERS,
    Settings,
    load_rules,
)

IDLE_TIMEOUT_S = 900
"""Keep-alive connections live 15 min, like the real server's idle timeout."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="mix-devserver", description="Local Mix server with a scripted agent.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8088; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, default=Path(".devserver-data"), help="where the SQLite file lives")
    parser.add_argument("--reply-delay-ms", type=int, default=DEFAULT_REPLY_DELAY_MS, help="reply duration")
    parser.add_argument("--replies-file", type=Path, help="JSON list of reply rules")
    parser.add_argument("--heartbeat-seconds", type=float, default=45.0, help="SSE heartbeat interval")
    parser.add_argument(
        "--no-llm-credentials", action="store_true", help="answer 401 to messages, like a server without an LLM"
    )
    parser.add_argument(
        "--dangerously-skip-permissions",
        action="store_true",
        help="tools run without asking (by default every tool but Task and Notify asks, like the real server)",
    )
    parser.add_argument(
        "--permission-timeout-seconds",
        type=float,
        default=DEFAULT_PERMISSION_TIMEOUT_S,
        help="how long a permission request waits before it counts as denied (default 30)",
    )
    parser.add_argument(
        "--generation",
        choices=GENERATIONS,
        default="current",
        help="real server generation to imitate where they differ (default current; see docs/devserver.md)",
    )
    parser.add_argument(
        "--tie-order",
        choices=TIE_ORDERS,
        default=DEFAULT_TIE_ORDER,
        help=f"order of messages stored in the same second (default {DEFAULT_TIE_ORDER}; see docs/devserver.md)",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error", "critical"])
    return parser.parse_args(argv)


def build_settings(args: argparse.Namespace) -> Settings:
    """Turn parsed arguments into :class:`Settings`."""
    return Settings(
        data_dir=args.data_dir.resolve(),
        reply_delay_ms=args.reply_delay_ms,
        rules=load_rules(args.replies_file) if args.replies_file else (),
        llm_credentials=not args.no_llm_credentials,
        heartbeat_s=args.heartbeat_seconds,
        require_permissions=not args.dangerously_skip_permissions,
        permission_timeout_s=args.permission_timeout_seconds,
        generation=args.generation,
        tie_order=args.tie_order,
    )


async def serve(server: uvicorn.Server, host: str) -> None:
    """Run ``server``, printing the ready line once it listens."""
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"Mix devserver listening on http://{host}:{port}", flush=True)
    await task


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mix-devserver``."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    config = uvicorn.Config(
        create_app(build_settings(args)),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=IDLE_TIMEOUT_S,
        lifespan="on",
        server_header=False,  # Go's net/http sends no Server header
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        asyncio.run(serve(uvicorn.Server(config), args.host))


if __name__ == "__main__":
    main()
