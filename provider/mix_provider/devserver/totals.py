"""How a session's totals follow its messages, in each server generation.

``legacy`` (the older agent): tokens and cost are sums over the messages, ``toolCallCount``
counts tool calls. ``current`` (``llm/agent/agent.go`` ``TrackUsage`` @ 1fa5f2d6): every
completed LLM call *assigns* the session's ``promptTokens``/``completionTokens`` (the last
call's, the context size) and *adds* its cost; sub-agent costs are added to the parent
(``IncrementSessionCost``, kept in ``extra_cost`` so a recount keeps them); ``toolCallCount``
counts ``role: tool`` messages (``sessions.sql`` ``GetSessionByID``). A rewind
(``rest_sessions.go`` ``HandleRewindSession``: ``DeleteAfterIndex``) deletes messages only, so the
session keeps its tokens and cost; its counts are computed from the messages.
"""

from __future__ import annotations

from dataclasses import dataclass

_COUNT_ROLES = """
  user_count = (SELECT COUNT(*) FROM messages WHERE session_id = :id AND role = 'user'),
  assistant_count = (SELECT COUNT(*) FROM messages WHERE session_id = :id AND role = 'assistant'),"""


@dataclass(frozen=True)
class Totals:
    """The SQL keeping ``sessions`` totals in step with ``messages``.

    :param add: applied per stored message (``:role`` empty when completing a streamed one).
    :param recount: recomputes everything from the messages of session ``:id``.
    :param rewind: what a rewind of session ``:id`` recomputes.
    """

    add: str
    recount: str
    rewind: str


_LEGACY_RECOUNT = f"""
UPDATE sessions SET{_COUNT_ROLES}
  tool_call_count = (SELECT COALESCE(SUM(json_array_length(tool_calls)), 0) FROM messages
                     WHERE session_id = :id AND tool_calls IS NOT NULL),
  prompt_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM messages WHERE session_id = :id),
  completion_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM messages WHERE session_id = :id),
  cost = (SELECT COALESCE(SUM(cost), 0) FROM messages WHERE session_id = :id)
WHERE id = :id
"""

LEGACY = Totals(
    add="""
UPDATE sessions SET
  user_count = user_count + (:role = 'user'), assistant_count = assistant_count + (:role = 'assistant'),
  tool_call_count = tool_call_count + :calls, prompt_tokens = prompt_tokens + :input_tokens,
  completion_tokens = completion_tokens + :output_tokens, cost = cost + :cost, updated_at = :updated_at
WHERE id = :session_id
""",
    recount=_LEGACY_RECOUNT,
    rewind=_LEGACY_RECOUNT,
)

_CURRENT_COUNTS = f"""
UPDATE sessions SET{_COUNT_ROLES}
  tool_call_count = (SELECT COUNT(*) FROM messages WHERE session_id = :id AND role = 'tool')"""
_CALL = "(:input_tokens > 0 OR :output_tokens > 0)"
"""A message that carries usage is a completed LLM call."""
_LAST_CALL = (
    "(SELECT {column} FROM messages WHERE session_id = :id AND (input_tokens > 0 OR output_tokens > 0) "
    "ORDER BY seq DESC LIMIT 1)"
)

CURRENT = Totals(
    add=f"""
UPDATE sessions SET
  user_count = user_count + (:role = 'user'), assistant_count = assistant_count + (:role = 'assistant'),
  tool_call_count = tool_call_count + (:role = 'tool'),
  prompt_tokens = CASE WHEN {_CALL} THEN :input_tokens ELSE prompt_tokens END,
  completion_tokens = CASE WHEN {_CALL} THEN :output_tokens ELSE completion_tokens END,
  cost = cost + :cost, updated_at = :updated_at
WHERE id = :session_id
""",
    recount=f"""{_CURRENT_COUNTS},
  prompt_tokens = COALESCE({_LAST_CALL.format(column="input_tokens")}, 0),
  completion_tokens = COALESCE({_LAST_CALL.format(column="output_tokens")}, 0),
  cost = extra_cost + (SELECT COALESCE(SUM(cost), 0) FROM messages WHERE session_id = :id)
WHERE id = :id
""",
    rewind=f"{_CURRENT_COUNTS}\nWHERE id = :id",
)
