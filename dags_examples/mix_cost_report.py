"""Tokens and cost per day and model, rolled up from the archive manifests, as a CSV and a PNG chart.

Reads the manifest of every archive directory under the archive base (as ``mix_archive_transcripts`` writes it:
the Variable ``mix_archive_base_path``, else ``file://$AIRFLOW_HOME/mix-archive``) and writes
``<base>/reports/costs.csv`` and, with the ``chart`` extra (matplotlib), ``<base>/reports/costs.png``:
a stacked bar per day, one colour per model, a legend naming the models.

Permission policy: none needed; the DAG reads archive manifests and sends no message.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, task

from mix_provider.archive.chart import HAS_CHART
from mix_provider.archive.costs import load_entries, rollup, to_csv, to_png, write_atomically

AIRFLOW_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
BASE_PATH = "{{ var.value.get('mix_archive_base_path', 'file://" + AIRFLOW_HOME + "/mix-archive') }}"

with DAG(
    dag_id="mix_cost_report",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mix", "example", "archive"],
) as dag:
    # [START howto_mix_cost_report]
    @task
    def cost_report(base_path: str) -> dict[str, Any]:
        base = ObjectStoragePath(base_path)
        rows = rollup(load_entries(base).values())
        csv_path, png_path = base / "reports" / "costs.csv", base / "reports" / "costs.png"
        write_atomically(csv_path, to_csv(rows))
        report = {
            "csv": str(csv_path),
            "rows": len(rows),
            "sessions": sum(row.sessions for row in rows),
            "cost": round(sum(row.cost for row in rows), 8),
        }
        if HAS_CHART:  # pip install 'airflow-provider-mix[chart]'
            write_atomically(png_path, to_png(rows))
            report["png"] = str(png_path)
        return report

    cost_report(BASE_PATH)
    # [END howto_mix_cost_report]
