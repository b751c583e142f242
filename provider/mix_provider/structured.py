"""Typed replies: find the JSON value in an agent's reply and validate it against an ``output_type``.

Agents wrap JSON in prose or Markdown fences; :func:`parse_reply` accepts the whole reply, a
fenced ``json`` code block, or the first JSON object or array in the text, then validates it
with a pydantic ``TypeAdapter`` (a ``BaseModel`` subclass, a ``TypedDict``, ``list[int]``, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mix_provider.errors import MixConfigError, MixError

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
#: Longest validation error quoted back to the agent on a retry.
ERROR_LIMIT = 2000


class MixOutputValidationError(MixError, ValueError):
    """The reply held no JSON value valid for ``output_type``, after every retry.

    :param session_id: the session.
    :param attempts: how many replies were tried.
    :param error: the last reply's problem.
    """

    def __init__(self, session_id: str, attempts: int, error: str) -> None:
        super().__init__(f"no valid reply in session {session_id} after {attempts} attempt(s): {error}")
        self.session_id = session_id
        self.attempts = attempts
        self.error = error


def output_adapter(output_type: Any) -> TypeAdapter[Any]:
    """A ``TypeAdapter`` of ``output_type``, or a :class:`MixConfigError` naming the argument."""
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        adapter.json_schema()
    except Exception as exc:  # pydantic raises several kinds for a type it cannot handle
        raise MixConfigError(
            "output_type", f"must be a type pydantic can validate (a BaseModel subclass, list[...], ...): {exc}"
        ) from None
    return adapter


def _candidates(text: str) -> Iterator[Any]:
    stripped = text.strip()
    try:
        yield json.loads(stripped)
        return
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            yield json.loads(block)
            return
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            yield decoder.raw_decode(text, match.start())[0]
            return
        except ValueError:
            continue


def parse_reply(text: str, adapter: TypeAdapter[Any]) -> Any:
    """The reply's JSON value validated by ``adapter``; ``ValueError`` saying what is wrong otherwise."""
    for value in _candidates(text):
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise ValueError(str(exc)[:ERROR_LIMIT]) from None
    raise ValueError("the reply holds no JSON value (expected only JSON, or a ```json block)")


def retry_prompt(prompt: str, error: str, adapter: TypeAdapter[Any]) -> str:
    """The prompt sent again after an invalid reply: the original, the error, and the JSON schema."""
    schema = json.dumps(adapter.json_schema(), separators=(",", ":"))
    return (
        f"{prompt}\n\nYour previous reply could not be used: {error[:ERROR_LIMIT]}\n"
        f"Reply again with only a JSON value matching this JSON schema: {schema}"
    )
