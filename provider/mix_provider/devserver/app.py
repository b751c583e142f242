"""The devserver's ASGI application: :func:`create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from mix_provider.devserver.backend import MixBackend
from mix_provider.devserver.control import CONTROL_ROUTES
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.faults import FaultMiddleware, FaultState
from mix_provider.devserver.file_routes import FILE_ROUTES
from mix_provider.devserver.routes import ROUTES, api_error_handler, http_error_handler
from mix_provider.devserver.settings import Settings


class DevServerApp(Starlette):
    """Starlette with the fault middleware outermost, so it sees the server's own ``send``
    (needed to drop connections) and also wraps streaming responses."""

    def build_middleware_stack(self) -> ASGIApp:
        """Wrap Starlette's stack in :class:`FaultMiddleware`."""
        faults: FaultState = self.state.faults
        return FaultMiddleware(super().build_middleware_stack(), faults)


def create_app(settings: Settings) -> Starlette:
    """Build the devserver app; state lives in ``app.state.backend`` and ``app.state.faults``.

    Interrupted runs resume at startup (lifespan); mounted in-process without a lifespan
    (``httpx.ASGITransport``) everything else works.
    """
    backend = MixBackend(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.startup()
        try:
            yield
        finally:
            await backend.shutdown()

    app = DevServerApp(
        routes=[*ROUTES, *FILE_ROUTES, *CONTROL_ROUTES],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    app.state.faults = FaultState()
    app.state.backend = backend
    return app
