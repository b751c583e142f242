"""Create, Get, List, Delete and UpdateCallbacks operators, run by ``dag.test()`` against the local server."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.session import (
    MixCreateSessionOperator,
    MixDeleteSessionOperator,
    MixGetSessionOperator,
    MixListSessionsOperator,
    MixUpdateSessionCallbacksOperator,
)
from support.integration import MixAPI, states, xcom

START = datetime(2026, 1, 1)
CDP_URL = "ws://127.0.0.1:9222/devtools/browser/abc"
BASH_CALLBACK = {"type": "bash_script", "toolName": "Bash", "name": "log", "bashCommand": "echo done", "bashTimeout": 5}
MESSAGE_CALLBACK = {"type": "send_message", "tool_name": "Write", "message_content": "Check the file you wrote."}
SUBAGENT_CALLBACK = {"type": "sub_agent", "toolName": "Edit", "subAgentPrompt": "Review {{ params.topic }}"}


def stored_prompt(server: Any, session_id: str) -> tuple[str, str | None]:
    """``(prompt_mode, custom_system_prompt)`` as the devserver stored them (the API does not return them)."""
    with closing(sqlite3.connect(f"file:{server.data_dir / 'mix-devserver.sqlite3'}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT prompt_mode, custom_system_prompt FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    return row[0], row[1]


def test_create_get_update_delete(run_dag: Any, mix_server: Any, api: MixAPI, uid: str) -> None:
    with DAG(f"session_ops_{uid}", schedule=None, start_date=START, params={"topic": "sales"}) as dag:
        create = MixCreateSessionOperator(
            task_id="create",
            title="create {{ params.topic }} " + uid,
            browser_mode="remote-cdp-websocket",
            cdp_url=CDP_URL,
            custom_system_prompt="Answer about {{ params.topic }} in French.",
            prompt_mode="append",
            callbacks=[BASH_CALLBACK, MESSAGE_CALLBACK],
        )
        get = MixGetSessionOperator(task_id="get", session_id=create.output)
        update = MixUpdateSessionCallbacksOperator(
            task_id="update", session_id=create.output, callbacks=[SUBAGENT_CALLBACK]
        )
        doomed = MixCreateSessionOperator(task_id="create_doomed", title=f"doomed {uid}", prompt_mode="replace")
        delete = MixDeleteSessionOperator(task_id="delete", session_id=doomed.output)
        delete_again = MixDeleteSessionOperator(task_id="delete_again", session_id=doomed.output, ignore_missing=True)
        get >> update
        delete >> delete_again

    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    session_id = xcom(dr, "create")
    server = api.session(session_id).json()
    assert server["title"] == f"create sales {uid}"
    assert server["browserMode"] == "remote-cdp-websocket"
    assert server["cdpUrl"] == CDP_URL
    assert stored_prompt(mix_server, session_id) == ("append", "Answer about sales in French.")
    assert server["callbacks"] == [
        {"type": "sub_agent", "toolName": "Edit", "subAgentPrompt": "Review sales"},
    ], "UpdateSessionCallbacks replaces the whole list (templated)"

    pushed = xcom(dr, "create", key="session")
    assert pushed["id"] == session_id and pushed["title"] == server["title"]
    got = xcom(dr, "get")
    assert got["id"] == session_id
    assert got["user_message_count"] == server["userMessageCount"] == 0
    assert xcom(dr, "update")["callbacks"] == 1

    doomed_id = xcom(dr, "create_doomed")
    assert xcom(dr, "delete") is True
    assert xcom(dr, "delete_again") is False
    assert api.session(doomed_id).status_code == 404


def test_create_sends_callbacks_as_given(run_dag: Any, api: MixAPI, uid: str) -> None:
    """Every callback field reaches the server, camelCase, with the defaults the user left out absent."""
    with DAG(f"session_callbacks_{uid}", schedule=None, start_date=START) as dag:
        MixCreateSessionOperator(
            task_id="create", title=f"callbacks {uid}", callbacks=[BASH_CALLBACK, MESSAGE_CALLBACK]
        )
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    server = api.session(xcom(dr, "create")).json()
    assert server["browserMode"] == "local-browser-service"
    assert "cdpUrl" not in server
    assert server["callbacks"] == [
        BASH_CALLBACK,
        {"type": "send_message", "toolName": "Write", "messageContent": "Check the file you wrote."},
    ]


def test_delete_missing_session_fails(run_dag: Any, uid: str) -> None:
    with DAG(f"session_delete_missing_{uid}", schedule=None, start_date=START) as dag:
        MixDeleteSessionOperator(task_id="delete", session_id="00000000-0000-4000-8000-000000000000")
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert states(dr) == {"delete": "failed"}


def _two_sessions_a_second_apart(api: MixAPI, uid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two sessions titled with ``uid`` whose ``createdAt`` (second precision) differ."""
    first = api.create_session(f"list {uid} first")
    second = api.create_session(f"LIST {uid.upper()} second")
    while second["createdAt"] == first["createdAt"]:
        api.http.delete(f"/api/sessions/{second['id']}")
        time.sleep(0.2)
        second = api.create_session(f"LIST {uid.upper()} second")
    return first, second


def test_list_filters_and_feeds_expand(run_dag: Any, api: MixAPI, uid: str) -> None:
    first, second = _two_sessions_a_second_apart(api, uid)
    parent = api.create_session(f"parent {uid}")
    api.converse(parent["id"], "delegate [[subagent]]")
    subagent = next(s for s in api.sessions() if s.get("parentSessionId") == parent["id"])

    with DAG(
        f"session_list_{uid}",
        schedule=None,
        start_date=START,
        params={"after": second["createdAt"], "token": uid},
        default_args={"on_incomplete": "warn"},  # the shared server lists 20 and has no history endpoint
    ) as dag:
        listed = MixListSessionsOperator(task_id="list", title_contains="LIST {{ params.token }}")
        MixListSessionsOperator(task_id="list_after", title_contains=f"list {uid}", created_after="{{ params.after }}")
        MixListSessionsOperator(task_id="list_before", title_contains=f"list {uid}", created_before=second["createdAt"])
        MixListSessionsOperator(task_id="list_summaries", title_contains=f"list {uid}", return_ids=False)
        MixListSessionsOperator(task_id="list_main", created_after=parent["createdAt"])
        MixListSessionsOperator(
            task_id="list_with_subagents", include_subagents=True, created_after=parent["createdAt"]
        )
        MixGetSessionOperator.partial(task_id="get_each").expand(session_id=listed.output)

    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    assert sorted(xcom(dr, "list")) == sorted([first["id"], second["id"]])
    assert xcom(dr, "list_after") == [second["id"]]
    assert xcom(dr, "list_before") == [first["id"]]
    summaries = xcom(dr, "list_summaries")
    assert {s["title"] for s in summaries} == {first["title"], second["title"]}
    main, everything = xcom(dr, "list_main"), xcom(dr, "list_with_subagents")
    assert parent["id"] in main and subagent["id"] not in main
    assert {parent["id"], subagent["id"]} <= set(everything)

    got = {xcom(dr, "get_each", map_index=i)["id"] for i in range(2)}
    assert got == {first["id"], second["id"]}
