"""Each turn gets the reply to *its* message, even when other messages reach the session.

The real server accepts messages while a run is in progress and runs them concurrently
(``rest_concurrency_integration_test.go`` ``TestConcurrentMessageProcessing``; ``agent.go``
``RunWithPlanMode`` has no busy check), so their messages interleave in the transcript. When
overlapping runs both wait for tool results, nothing says whose a tool message is: the turn fails
with a typed error instead of returning a guess.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from mix_provider.client import TurnKey
from mix_provider.errors import MixReplyAmbiguousError
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.triggers.message import MixMessageTrigger
from support.integration import MixAPI, final_reply, next_second, user_messages

#: Three turns that overlap, finishing in another order than they were sent.
WORDS = {"alpha": "[[delay:2500]]", "beta": "[[tool]] [[delay:1000]]", "gamma": "[[delay:1800]]"}


def _text(word: str) -> str:
    return f"{word} {WORDS[word]}"


def _check_own_replies(api: MixAPI, session_id: str, results: dict[str, dict[str, Any]]) -> None:
    """Each result is the final reply to its own user message, and the three are distinct."""
    export = api.export(session_id)
    users = {m["content"]: m["id"] for m in user_messages(export)}
    by_id = {m["id"]: m for m in export["messages"]}
    assert len(users) == 3, "each message was sent once"
    for word, result in results.items():
        assert result["reply"] == f"You said: {word}", word
        assert result["user_message_id"] == users[_text(word)], word
        final = by_id[result["message_id"]]
        assert (final["role"], final["content"], final["finishReason"]) == ("assistant", result["reply"], "end_turn")
        assert result["tool_calls"] == (1 if "[[tool]]" in WORDS[word] else 0), word
    assert len({r["message_id"] for r in results.values()}) == 3


def _run_at_once(
    session_id: str, texts: dict[str, str], stagger: bool = False
) -> tuple[dict[str, Any], dict[str, BaseException]]:
    """Run one blocking MixSendMessageOperator per text, all at once, as three workers would; with
    ``stagger``, each starts in the next wall-clock second (their runs still overlap)."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def turn(word: str) -> None:
        op = MixSendMessageOperator(
            task_id=word, session_id=session_id, text=texts[word], timeout=60, poll_interval=0.2
        )
        try:
            results[word] = op.execute({})
        except BaseException as exc:  # asserted by the callers
            errors[word] = exc

    threads = [threading.Thread(target=turn, args=(word,)) for word in texts]
    for thread in threads:
        thread.start()
        if stagger:
            next_second()
    for thread in threads:
        thread.join(60)
    return results, errors


def test_three_tasks_sending_at_once_each_get_their_own_reply(mix_server: Any, api: MixAPI) -> None:
    """Started a second apart: runs overlapping in one second cannot be told apart at all (the server
    lists one second's messages in no defined order), which the next test and the unit tests of
    ``client/ties.py`` cover."""
    session_id = api.create_session("three at once")["id"]
    results, errors = _run_at_once(session_id, {word: _text(word) for word in WORDS}, stagger=True)
    assert errors == {}
    _check_own_replies(api, session_id, results)
    assert any(r["overlapped"] for r in results.values()), "the runs did overlap"
    assert not any(r["usage_attributable"] for r in results.values() if r["overlapped"])


def test_overlapping_tool_runs_fail_typed_instead_of_guessing(mix_server: Any, api: MixAPI) -> None:
    session_id = api.create_session("two tool runs at once")["id"]
    texts = {"first": "first [[tool]] [[delay:2000]]", "second": "second [[tool]] [[delay:1200]]"}
    results, errors = _run_at_once(session_id, texts)
    assert results == {}, "no turn was handed a reply it cannot be sure is its own"
    assert {word: type(exc) for word, exc in errors.items()} == dict.fromkeys(texts, MixReplyAmbiguousError)
    assert "send one message at a time" in str(errors["first"])
    export = api.wait_finished(session_id, 2)  # "first" runs longer: its answer is stored last
    replies = [m["content"] for m in export["messages"] if m.get("finishReason") == "end_turn"]
    assert sorted(replies) == ["You said: first", "You said: second"], "both runs did finish on the server"


async def test_three_deferred_waits_in_one_triggerer_each_get_their_own_reply(api: MixAPI) -> None:
    session_id = api.create_session("three deferred")["id"]
    keys = {word: TurnKey.of(0, _text(word)) for word in WORDS}
    zero = {"user_messages": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    triggers = {
        word: MixMessageTrigger(session_id, zero, time.time() + 60, poll_interval=0.1, turn=key.to_json())
        for word, key in keys.items()
    }

    async def wait(trigger: MixMessageTrigger) -> dict[str, Any]:
        [event] = [event.payload async for event in trigger.run()]
        return dict(event)

    waits = {word: asyncio.ensure_future(wait(trigger)) for word, trigger in triggers.items()}
    await asyncio.sleep(0.3)
    for word in WORDS:  # a second apart: the waits read the transcript only (they did not send)
        api.send(session_id, _text(word))
        await asyncio.sleep(1.02 - time.time() % 1)
    results = {word: await asyncio.wait_for(task, 60) for word, task in waits.items()}
    assert {r["status"] for r in results.values()} == {"success"}
    _check_own_replies(api, session_id, results)


async def test_a_late_wait_returns_its_turn_not_a_newer_one(api: MixAPI) -> None:
    """The triggerer picks the wait up after another turn has finished in the same session."""
    session_id = api.create_session("late wait")["id"]
    api.converse(session_id, "ours [[tool]]")
    next_second()  # the late wait reads the transcript only: the newer turn is in a later second
    api.converse(session_id, "theirs")
    zero = {"user_messages": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    trigger = MixMessageTrigger(
        session_id, zero, time.time() + 30, poll_interval=0.1, turn=TurnKey.of(0, "ours [[tool]]").to_json()
    )
    [event] = [e.payload async for e in trigger.run()]
    export = api.export(session_id)
    ours = [m for m in export["messages"] if m["role"] == "assistant" and m["content"] == "You said: ours"]
    assert event["status"] == "success"
    assert (event["reply"], event["message_id"], event["tool_calls"]) == ("You said: ours", ours[-1]["id"], 1)
    newest = final_reply(export)
    assert newest["content"] == "You said: theirs" and event["message_id"] != newest["id"], "the newer turn's reply"
    assert event["usage_attributable"] is False, "the totals now include the newer turn"
    assert event["prompt_tokens"] is None
