"""Files through a Mix session: a PDF in from object storage, the image the agent made out to it.

1. ``stage_brief`` puts a one-page PDF into the inbox (``<base>/inbox/brief.pdf``); in production
   the brief is already in your bucket and this task goes away.
2. ``create_session`` opens a session on the model named by the ``model_id``/``provider`` params
   (the server's default when empty).
3. ``ask_for_chart`` gives the agent the PDF with the message (``files=``: uploaded first, the
   message ends with its URL) and waits for the reply, which references a chart it made.
4. ``collect_chart`` stores every PNG the transcript references under ``<base>/outbox/<run id>/``,
   each written atomically, with its size and SHA-256 in the XCom.

The base is the ``base_path`` param, else ``file://$AIRFLOW_HOME/mix-files``; any location Airflow's
object storage reaches works (``s3://bucket/prefix`` with ``aws_default``). ``[[file:chart.png]]`` asks
the local Mix server's scripted agent to make the chart; a real agent needs only the words.

Permission policy: the agent may write files (the chart goes into its session's storage) and run
``python``; any other request is denied and the agent carries on without it.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from mix_provider.operators.files import MixCollectFilesOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator

AIRFLOW_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
BASE_PATH = "{{ params.base_path or 'file://" + AIRFLOW_HOME + "/mix-files' }}"
BRIEF_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] "
    b"/Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)

with DAG(
    dag_id="mix_files_round_trip",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "files"],
    params={
        "base_path": Param("", type="string", description="Root URI of inbox/ and outbox/ (default: see the DAG doc)"),
        "model_id": Param("", type="string", description="The session's model (empty: the server's default)"),
        "provider": Param("", type="string", description="The model's provider, required with model_id"),
    },
    doc_md=__doc__,
) as dag:

    @task
    def stage_brief(base_path: str) -> str:
        """Put the brief into the inbox (stands in for a file that is already there)."""
        target = ObjectStoragePath(f"{base_path}/inbox/brief.pdf")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(BRIEF_PDF)
        return str(target)

    brief = stage_brief(BASE_PATH)

    # [START howto_operator_mix_files_round_trip]
    create_session = MixCreateSessionOperator(
        task_id="create_session",
        title="Chart from the brief ({{ run_id }})",
        model_id="{{ params.model_id }}",
        provider="{{ params.provider }}",
    )

    ask_for_chart = MixSendMessageOperator(
        task_id="ask_for_chart",
        session_id="{{ ti.xcom_pull(task_ids='create_session') }}",
        text="Read the attached brief and draw its key figure as a chart. [[file:chart.png]]",
        files="{{ ti.xcom_pull(task_ids='stage_brief') }}",
        permission_policy={
            "rules": [
                {"tool": "write", "action": "grant"},
                {"tool": "bash", "command": "python*", "action": "grant"},
                {"tool": "*", "action": "deny"},
            ]
        },
        timeout=600,
    )

    collect_chart = MixCollectFilesOperator(
        task_id="collect_chart",
        session_id="{{ ti.xcom_pull(task_ids='create_session') }}",
        destination=BASE_PATH + "/outbox/{{ run_id | replace(':', '_') | replace('+', '_') }}",
        patterns=["*.png"],
    )
    # [END howto_operator_mix_files_round_trip]

    [brief, create_session] >> ask_for_chart >> collect_chart


if __name__ == "__main__":
    dag.test()
