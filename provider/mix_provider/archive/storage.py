"""Where transcripts land: storage paths, atomic file writes, hashed (and gzipped) output.

Writes go to ``.<name>.<uuid>.partial`` beside the target and are renamed over it only once
complete. On a local disk the rename is one ``rename(2)``: atomic, and an existing target is
replaced in one step. On object stores (``s3://``, ``gs://``...) fsspec renames by copy then
delete: readers never see a partial object under the final name, but the old object is replaced by
the copy, not atomically swapped. A failure, an exception or a kill deletes the temporary file.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
import uuid
from contextlib import suppress
from typing import IO, Any

from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.errors import MixConfigError
from mix_provider.storage_paths import LOCAL_PROTOCOLS

log = logging.getLogger(__name__)

#: Suffix of in-progress files; anything ending with it is never a finished transcript.
PARTIAL_SUFFIX = ".partial"
#: zlib level of gzip output: much faster than level 9 for a few percent more bytes (``benchmarks/README.md``).
GZIP_LEVEL = 6


def check_destination(field: str, target: ObjectStoragePath, *, directory: bool = False) -> None:
    """Check, before any download, that ``target`` can be written: its filesystem is installed and, on
    the local disk, the target is a file (or, with ``directory``, a directory) under directories only.

    :raises MixConfigError: naming ``field`` and the path.
    """
    try:
        target.fs  # noqa: B018 -- imports the filesystem's package (s3fs, gcsfs, ...)
    except (ImportError, ValueError) as exc:
        raise MixConfigError(
            field,
            f"{target} needs the fsspec filesystem for {target.protocol}:// ({exc}); install it, e.g. s3fs for s3://",
        ) from None
    if target.protocol not in LOCAL_PROTOCOLS:
        return
    path = os.path.abspath(str(target.path))
    want = "a directory" if directory else "a file"
    if os.path.exists(path) and os.path.isdir(path) != directory:
        raise MixConfigError(field, f"{path} exists and is not {want}")
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise MixConfigError(field, f"{path} cannot be created: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MixConfigError(field, f"{path} cannot be written: no write permission on {parent}")


class WriteTracker:
    """The temporary files a task has open, so that ``on_kill`` can cancel and delete them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[AtomicFile] = set()
        self.cancelled = threading.Event()

    def add(self, file: AtomicFile) -> None:
        """Track an opened temporary file."""
        with self._lock:
            self._active.add(file)

    def discard(self, file: AtomicFile) -> None:
        """Stop tracking a committed or aborted file."""
        with self._lock:
            self._active.discard(file)

    def cancel(self) -> None:
        """Refuse further writes and delete every temporary file still open (best effort)."""
        self.cancelled.set()
        with self._lock:
            active = list(self._active)
        for file in active:
            file.remove_temp()


class AtomicFile:
    """A file written under a temporary name beside ``target``, renamed over it by :meth:`commit`.

    On the local disk the directory, the file and the rename go through ``os`` directly: through
    fsspec they cost a good part of archiving a small session (``benchmarks/README.md``).

    :param target: the final path.
    :param tracker: registry of open temporary files (for ``on_kill``).
    """

    def __init__(self, target: ObjectStoragePath, tracker: WriteTracker | None = None) -> None:
        self.target = target
        self.temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
        self._local = (str(target.path), str(self.temp.path)) if target.protocol in LOCAL_PROTOCOLS else None
        self._tracker = tracker
        self._file: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        """Create the parent directory and open the temporary file for writing."""
        if self._local is not None:
            os.makedirs(os.path.dirname(self._local[0]), exist_ok=True)
            self._file = open(self._local[1], "wb")  # noqa: SIM115 -- closed by close(), commit() or abort()
        else:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.temp.open("wb")
        if self._tracker is not None:
            self._tracker.add(self)
        return self._file

    def close(self) -> None:
        """Close the temporary file (it stays under its temporary name)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def commit(self) -> ObjectStoragePath:
        """Close the temporary file and rename it over the target; return the target."""
        self.close()
        if self._local is not None:
            os.replace(self._local[1], self._local[0])
        else:
            self.temp.replace(self.target)
        self._untrack()
        return self.target

    def abort(self) -> None:
        """Close and delete the temporary file; never raises (the first error matters more)."""
        with suppress(Exception):
            self.close()
        self.remove_temp()
        self._untrack()

    def remove_temp(self) -> None:
        """Delete the temporary file if it exists (logging, not raising, a failure)."""
        try:
            if self._local is not None:
                os.unlink(self._local[1])
            else:
                self.temp.unlink()
        except FileNotFoundError:
            pass
        except Exception as exc:  # a cleanup must not hide the failure that caused it
            log.warning("Could not delete the temporary file %s: %s", self.temp, exc)

    def _untrack(self) -> None:
        if self._tracker is not None:
            self._tracker.discard(self)


class _HashingWriter:
    """A file-like sink that writes through to ``raw``, counting and hashing the bytes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        """Write ``data`` (bytes-like) to the file."""
        self._raw.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush (the file buffers)."""


class HashedOutput:
    """Bytes in; optionally gzipped, then written, counted and hashed exactly as stored.

    gzip output is reproducible (no file name, mtime 0), so the same transcript always has the same hash.

    :param raw: the open file.
    :param compression: ``None`` or ``"gzip"``.
    """

    def __init__(self, raw: IO[bytes], compression: str | None) -> None:
        self._stored = _HashingWriter(raw)
        self._gzip = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._stored, compresslevel=GZIP_LEVEL, mtime=0)
            if compression == "gzip"
            else None
        )
        self.write = self._gzip.write if self._gzip is not None else self._stored.write

    def finish(self) -> tuple[int, str]:
        """Flush the gzip trailer; return the stored size and sha256 hex digest."""
        if self._gzip is not None:
            self._gzip.close()
        return self._stored.size, self._stored.sha256.hexdigest()
