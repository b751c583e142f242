"""Split an archive across mapped tasks: session ``s`` belongs to shard ``sha256(s) mod N``.

The hash is SHA-256, not Python's ``hash()`` (salted per process), so every worker of every run
puts a session in the same shard. ``MixArchiveSessionsOperator.partial(..., shards=N)
.expand(shard=shard_indices(N))`` archives the whole set in N tasks that can run on different
workers; each writes only its own manifest parts (see :mod:`.parts`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mix_provider.errors import MixConfigError

#: Upper bound of ``shards`` (a guard against a typo creating millions of mapped tasks).
MAX_SHARDS = 4096


def shard_of(session_id: str, shards: int) -> int:
    """The shard of a session: the first 8 bytes of SHA-256 of its id, big-endian, modulo ``shards``."""
    digest = hashlib.sha256(session_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_indices(shards: int) -> list[int]:
    """``[0, ..., shards - 1]``, to expand over: ``.expand(shard=shard_indices(8))``.

    :raises MixConfigError: naming ``shards`` when it is not an integer from 1 to :data:`MAX_SHARDS`.
    """
    return list(range(Shard.of(0, shards).count))


def _integer(field: str, value: object) -> int:
    """An int, or a string of decimal digits (what a Jinja template renders to)."""
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MixConfigError(field, f"must be an integer (or a template rendering to one), got {value!r}")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``Shard(0, 1)``: everything, one task)."""

    index: int
    count: int

    @classmethod
    def of(cls, shard: object, shards: object) -> Shard:
        """Validate ``shard`` and ``shards`` (ints or digit strings).

        :raises MixConfigError: naming the argument and the accepted values.
        """
        count = _integer("shards", shards)
        if not 1 <= count <= MAX_SHARDS:
            raise MixConfigError("shards", f"must be from 1 to {MAX_SHARDS}, got {count}")
        index = _integer("shard", shard)
        if not 0 <= index < count:
            raise MixConfigError("shard", f"must be from 0 to shards - 1 = {count - 1}, got {index}")
        return cls(index, count)

    @property
    def tag(self) -> str:
        """``shard-<index>-of-<count>``: names this shard's manifest parts."""
        return f"shard-{self.index}-of-{self.count}"

    def owns(self, session_id: str) -> bool:
        """Whether the session is archived by this shard."""
        return self.count == 1 or shard_of(session_id, self.count) == self.index


#: One shard holding every session (no sharding).
WHOLE = Shard(0, 1)
