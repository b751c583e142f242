"""Archive Mix transcripts every day, partitioned by date, with a manifest; and export one on demand.

``mix_archive_transcripts`` (``@daily``) writes ``<base>/dt=<day>/<session id>.jsonl.gz`` and
a manifest part under ``<base>/dt=<day>/manifest.d/``, where the day is the run's logical date (``ds``), or the day it was
due for a manual run without one. The base is the ``base_path`` param, else the Airflow Variable
``mix_archive_base_path``, else ``file://$AIRFLOW_HOME/mix-archive``; any location Airflow's
object storage reaches works (``s3://bucket/prefix`` with ``aws_default``, ``gs://...``). With
``only_data_interval`` it archives only the sessions created in the run's data interval, otherwise
a snapshot of every session. Re-running a day re-downloads only the sessions that changed.

``mix_export_transcript`` (manual, conf ``{"session_id": "..."}``) streams one session's transcript into
``<base>/by-id/<session id>.json``, with the same base.

Permission policy: none needed; these DAGs read transcripts and send no message.

Both run against the ``mix_default`` connection; ``python dags_examples/mix_archive_transcripts.py``
runs the daily DAG once with ``dag.test()``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator

# [START howto_mix_archive_base_path]
AIRFLOW_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
LOCAL_ARCHIVE = f"file://{AIRFLOW_HOME}/mix-archive"
# The ``base_path`` param if the run has one, else the Variable, else a local directory.
# ``params.get``: ``params.base_path`` fails to render in a DAG that does not declare the param.
BASE_PATH = "{{ params.get('base_path') or var.value.get('mix_archive_base_path', '" + LOCAL_ARCHIVE + "') }}"
# Manual runs of Airflow 3 may have no logical date (then no ``ds``): fall back to when the run was due.
RUN_DAY = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
# [END howto_mix_archive_base_path]

with DAG(
    dag_id="mix_archive_transcripts",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "archive"],
    params={
        "base_path": Param(None, type=["null", "string"], description="Archive root URI (default: see the DAG doc)"),
        "only_data_interval": Param(False, type="boolean", description="Only sessions created in the interval"),
    },
    doc_md=__doc__,
) as dag:
    # [START howto_operator_mix_archive]
    archive = MixArchiveSessionsOperator(
        task_id="archive_transcripts",
        base_path=BASE_PATH + "/dt=" + RUN_DAY,
        created_after="{{ (dag_run.data_interval_start or '') if params.only_data_interval else '' }}",
        created_before="{{ (dag_run.data_interval_end or '') if params.only_data_interval else '' }}",
        format="jsonl",
        compression="gzip",
        max_concurrency=8,
    )
    # [END howto_operator_mix_archive]

with DAG(
    dag_id="mix_export_transcript",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "archive"],
    params={
        "session_id": Param(type="string", description="The session to export"),
        "base_path": Param(None, type=["null", "string"], description="Archive root URI (default: see the DAG doc)"),
    },
    doc_md=__doc__,
) as export_dag:
    # [START howto_operator_mix_export_to_file]
    export = MixExportSessionOperator(
        task_id="export_transcript",
        session_id="{{ params.session_id }}",
        output_path=BASE_PATH + "/by-id/{{ params.session_id }}.json",
        format="json",
    )
    # [END howto_operator_mix_export_to_file]


if __name__ == "__main__":
    dag.test()
