"""Schedule on new transcripts: an archive task emits an asset event, a second DAG runs on it.

``mix_archive_to_asset`` archives every session under ``<base>/assets`` with
``outlets=[MIX_TRANSCRIPTS]``; the event's extra lists the newly archived ``session_ids`` with each
file's ``bytes`` and ``sha256``. ``mix_on_new_transcripts`` (``schedule=[MIX_TRANSCRIPTS]``) runs
after each such event and reads them from ``triggering_asset_events``. The base is as in
``mix_archive_transcripts``: the Variable ``mix_archive_base_path``, else ``file://$AIRFLOW_HOME/mix-archive``.

Permission policy: none needed; these DAGs archive transcripts and send no message.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

from mix_provider.operators.archive import MixArchiveSessionsOperator

AIRFLOW_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
BASE_PATH = "{{ var.value.get('mix_archive_base_path', 'file://" + AIRFLOW_HOME + "/mix-archive') }}"

# [START howto_mix_transcripts_asset]
MIX_TRANSCRIPTS = Asset(name="mix_transcripts")

with DAG(
    dag_id="mix_archive_to_asset",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "assets"],
) as producer:
    MixArchiveSessionsOperator(task_id="archive", base_path=BASE_PATH + "/assets", outlets=[MIX_TRANSCRIPTS])

with DAG(
    dag_id="mix_on_new_transcripts",
    schedule=[MIX_TRANSCRIPTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "assets"],
) as consumer:

    @task
    def new_transcripts(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One ``{session_id, bytes, sha256}`` per transcript the triggering archive runs stored."""
        events = triggering_asset_events[MIX_TRANSCRIPTS] if triggering_asset_events else []
        return [
            {"session_id": session_id, **event.extra["sessions"].get(session_id, {})}
            for event in events
            for session_id in event.extra.get("session_ids", [])
        ]

    new_transcripts()
# [END howto_mix_transcripts_asset]
