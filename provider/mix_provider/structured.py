"""Typed replies: find the JSON value in an agent's reply and validate it against an ``output_type``.

Agents wrap JSON in prose or Markdown fences; :func:`parse_reply` accepts the whole reply, a
fenced ``json`` code block, or a JSON object or array in the text, trying each until one
validates with a pydantic ``TypeAdapter`` (a ``BaseModel`` subclass, a ``TypedDict``, ``list[int]``, ...).
"""

from __future__ import annotations

import json
import re
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


def _fenced(text: str) -> list[Any]:
    values = []
    for block in _FENCE.findall(text):
        try:
            values.append(json.loads(block))
        except ValueError:
            continue
    return values


def _embedded(text: str) -> list[Any]:
    """Every outermost JSON object or array in the prose outside fences (a nested one is not a candidate)."""
    text = _FENCE.sub(" ", text)
    decoder, values, position = json.JSONDecoder(), [], 0
    for match in re.finditer(r"[\[{]", text):
        if match.start() < position:
            continue
        try:
            value, position = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        values.append(value)
    return values


def candidates(text: str) -> list[list[Any]]:
    """The JSON values a reply may mean, by group: the whole reply, else its fenced blocks, else its embedded values."""
    try:
        return [[json.loads(text.strip())]]
    except ValueError:
        pass
    return [group for group in (_fenced(text), _embedded(text)) if group]


def parse_reply(text: str, adapter: TypeAdapter[Any]) -> Any:
    """The reply's JSON value validated by ``adapter``; ``ValueError`` saying what is wrong otherwise.

    Every candidate is tried before giving up (a retry is a paid turn): a reply that quotes an example
    before its answer still yields the answer. Within a group the last valid value wins, since an
    answer follows the examples it quotes; a fenced block wins over a value in prose.
    """
    groups = candidates(text)
    errors: list[str] = []
    for group in groups:
        valid = []
        for value in group:
            try:
                valid.append(adapter.validate_python(value))
            except ValidationError as exc:
                errors.append(str(exc))
        if valid:
            return valid[-1]
    if not errors:
        raise ValueError("the reply holds no JSON value (expected only JSON, or a ```json block)")
    tried = f"none of the {len(errors)} JSON values in the reply is valid; the last: " if len(errors) > 1 else ""
    raise ValueError((tried + errors[-1])[:ERROR_LIMIT])


def retry_prompt(prompt: str, error: str, adapter: TypeAdapter[Any]) -> str:
    """The prompt sent again after an invalid reply: the original, the error, and the JSON schema."""
    schema = json.dumps(adapter.json_schema(), separators=(",", ":"))
    return (
        f"{prompt}\n\nYour previous reply could not be used: {error[:ERROR_LIMIT]}\n"
        f"Reply again with only a JSON value matching this JSON schema: {schema}"
    )
