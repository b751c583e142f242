"""MixHook's session files and its escape hatch: sync methods and their ``a``-prefixed async twins.

Files stream both ways (an upload is read in chunks from its ``ObjectStoragePath``, a download is
handed to the caller chunk by chunk), so memory does not grow with a file's size. An upload whose
answer was lost is reconciled by listing the uploads, never sent again blindly
(:func:`mix_provider.client.files.upload_file`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from mix_provider.client import operations as ops
from mix_provider.client.files import (
    MAX_UPLOAD_BYTES,
    FileStat,
    areferenced_files,
    check_upload_size,
    content_type_of,
    delete_file,
    download_file,
    list_files,
    referenced_files,
    stat_file,
    upload_file,
)
from mix_provider.client.operations import Upload
from mix_provider.errors import MixConfigError
from mix_provider.models import FileInfo
from mix_provider.storage_paths import storage_path

if TYPE_CHECKING:
    from mix_provider.client import AsyncMixClient, MixClient

T = TypeVar("T")
#: What names a file to upload: a storage path, a URI (``s3://...``, ``file://...``) or a local path.
FileSource = Any  # ObjectStoragePath | str: ObjectStoragePath's type differs by Airflow version


def upload_of(
    source: FileSource, *, filename: str | None = None, limit: int = MAX_UPLOAD_BYTES, field: str = "source"
) -> Upload:
    """Describe the upload of ``source``, checking now that it exists, is a file and is under ``limit``.

    :raises MixConfigError: naming ``field`` (no such file, a directory, an unknown scheme).
    :raises MixFileTooLargeError: over ``limit``.
    """
    path = storage_path(field, source)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MixConfigError(field, f"{path} does not exist") from None
    except (ImportError, ValueError, OSError) as exc:
        raise MixConfigError(field, f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    if path.is_dir():
        raise MixConfigError(field, f"{path} is a directory, not a file")
    size = int(info.st_size)
    check_upload_size(field, str(path), size, limit)
    name = filename or path.name
    return Upload("file", name, size, lambda: path.open("rb"), content_type_of(name))


class MixFilesMixin:
    """Session files and raw requests for :class:`~mix_provider.hooks.mix.MixHook`."""

    if TYPE_CHECKING:  # provided by MixHook

        @property
        def client(self) -> MixClient: ...

        async def aclient(self) -> AsyncMixClient: ...

    # -- files ------------------------------------------------------------------------------------

    def list_files(self, session_id: str) -> list[FileInfo]:
        """The shared uploads area as the session sees it (never the files the agent made)."""
        return self.client.execute(list_files(session_id))

    def upload_file(self, session_id: str, source: FileSource | Upload, **options: Unpack[UploadOptions]) -> FileInfo:
        """Upload one file (streamed); it is stored under :func:`~mix_provider.client.files.stored_name`.

        :param source: an ``ObjectStoragePath``, a URI or local path, or an :class:`Upload`.
        :param options: ``filename`` (the name to send; default the source's) and ``limit`` (bytes
            above which the file is refused before anything is sent; default 32 MiB).
        """
        return self.client.execute(_upload_call(session_id, source, options))

    def consume_file(self, session_id: str, name: str, consume: Callable[[Iterator[bytes]], T], **thumbnail: Any) -> T:
        """Hand a file's bytes to ``consume`` chunk by chunk; a transient failure, even mid-body, retries
        from the start (``consume`` must throw away what it made before it raised).

        :param thumbnail: ``thumb`` and ``time`` (:func:`~mix_provider.client.files.download_file`).
        """
        return self.client.consume_stream(download_file(session_id, name, **thumbnail), consume)

    def stat_file(self, session_id: str, name: str) -> FileStat:
        """A file's size, ``Last-Modified`` and type without its body (``HEAD``).

        :raises MixNotFoundError: the session has no such file.
        """
        return self.client.execute(stat_file(session_id, name))

    def delete_file(self, session_id: str, name: str) -> None:
        """Delete an upload (the files the agent made are deleted with the session, or by a rewind)."""
        self.client.execute(delete_file(session_id, name))

    def referenced_files(self, session_id: str) -> list[str]:
        """The names of this session's files its transcript references, first reference first (streamed)."""
        return self.client.consume_stream(
            ops.export_session(session_id), lambda chunks: referenced_files(session_id, chunks)
        )

    async def alist_files(self, session_id: str) -> list[FileInfo]:
        """Async :meth:`list_files`."""
        return await (await self.aclient()).execute(list_files(session_id))

    async def aupload_file(
        self, session_id: str, source: FileSource | Upload, **options: Unpack[UploadOptions]
    ) -> FileInfo:
        """Async :meth:`upload_file` (the file is read in chunks by blocking reads)."""
        return await (await self.aclient()).execute(_upload_call(session_id, source, options))

    async def aconsume_file(
        self, session_id: str, name: str, consume: Callable[[AsyncIterator[bytes]], Awaitable[T]], **thumbnail: Any
    ) -> T:
        """Async :meth:`consume_file`."""
        return await (await self.aclient()).consume_stream(download_file(session_id, name, **thumbnail), consume)

    async def astat_file(self, session_id: str, name: str) -> FileStat:
        """Async :meth:`stat_file`."""
        return await (await self.aclient()).execute(stat_file(session_id, name))

    async def adelete_file(self, session_id: str, name: str) -> None:
        """Async :meth:`delete_file`."""
        await (await self.aclient()).execute(delete_file(session_id, name))

    async def areferenced_files(self, session_id: str) -> list[str]:
        """Async :meth:`referenced_files`."""
        return await (await self.aclient()).consume_stream(
            ops.export_session(session_id), lambda chunks: areferenced_files(session_id, chunks)
        )

    # -- the escape hatch --------------------------------------------------------------------------

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """Call any endpoint with the connection's base URL, headers, timeouts, retries and typed errors.

        For endpoints and fields the provider does not wrap yet. Returns the JSON answer (its text when
        it is not JSON, None when empty). A request whose outcome is unknown is sent again only when it
        is ``idempotent`` (by default: ``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``); otherwise it
        raises :class:`~mix_provider.errors.MixOutcomeUnknownError`.

        :param path: below the base URL, e.g. ``/api/sessions/<id>/fork`` (never a full URL).
        :param options: ``params`` (query), ``json`` (body), ``idempotent``.
        """
        return self.client.execute(_raw_request(method, path, options))

    async def arequest(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """Async :meth:`request`."""
        return await (await self.aclient()).execute(_raw_request(method, path, options))


class UploadOptions(TypedDict, total=False):
    """The optional arguments of :meth:`MixFilesMixin.upload_file`."""

    filename: str | None
    limit: int


def _upload_call(session_id: str, source: FileSource | Upload, options: UploadOptions) -> ops.Call[FileInfo]:
    limit = options.get("limit", MAX_UPLOAD_BYTES)
    upload = source if isinstance(source, Upload) else upload_of(source, filename=options.get("filename"), limit=limit)
    return upload_file(session_id, upload, limit=limit)


class RequestOptions(TypedDict, total=False):
    """The optional arguments of :meth:`MixFilesMixin.request`."""

    params: Mapping[str, str] | None
    json: Any
    idempotent: bool | None


def _raw_request(method: str, path: str, options: RequestOptions) -> ops.Call[Any]:
    unknown = set(options) - set(RequestOptions.__annotations__)
    if unknown:
        raise MixConfigError(", ".join(sorted(unknown)), "not an option of request(); use params, json, idempotent")
    return ops.raw_request(
        method, path, params=options.get("params"), json_body=options.get("json"), idempotent=options.get("idempotent")
    )
