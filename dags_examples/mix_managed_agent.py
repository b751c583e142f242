"""Mix as a managed agent of common.ai: an ``AgentOperator`` consults a Mix session preset as a tool.

Needs the ``common-ai`` extra (``pip install 'airflow-provider-mix[common-ai]'``) and a
``pydanticai_default`` connection naming the calling model; the tests point it at pydantic-ai's
``TestModel`` (``{"conn_type": "pydanticai", "extra": {"model": "test"}}``).

Permission policy: none (a managed agent answers from its prompt); a Mix agent that asks to run a
tool fails the call with ``ManagedAgentInvocationError`` instead of waiting for an answer.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.ai.operators.agent import AgentOperator
from airflow.providers.common.ai.toolsets import ManagedAgentToolset
from airflow.sdk import DAG

from mix_provider.hooks.mix import MixHook

with DAG(
    dag_id="mix_managed_agent",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "common-ai"],
) as dag:
    # [START howto_mix_managed_agent_toolset]
    # The agent name resolves to a session preset: here given in the call; or in the connection's
    # extra.agents, e.g. {"triage": {"custom_system_prompt": "...", "prompt_mode": "append"}}.
    triage = MixHook("mix_default").agent(
        "triage",
        custom_system_prompt="You triage support tickets: answer with a priority and one line of why.",
        prompt_mode="append",
        thinking_level="off",
    )
    ask_triage = ManagedAgentToolset(
        triage,
        tool_name="ask_triage_agent",
        description="Triages one support ticket on the Mix agents server and answers with its priority.",
    )
    AgentOperator(
        task_id="triage_tickets",
        prompt="Triage today's tickets: 'Checkout fails with a 500' and 'Typo on the pricing page'.",
        llm_conn_id="pydanticai_default",
        system_prompt="Consult the triage agent for each ticket, then summarise.",
        toolsets=[ask_triage],
    )
    # [END howto_mix_managed_agent_toolset]
