"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import copy
from typing import Any

from mix_provider import __version__, defaults

_PKG = "mix_provider"


#: The ``mix`` connection's extra fields: THE definition of their labels, help, types and bounds, with
#: the defaults of :mod:`mix_provider.defaults`. Airflow >= 3.2 reads it as declarative ``conn-fields``; on 3.0/3.1 the hook generates its
#: form widgets from it (``MixHook.get_connection_form_widgets``); the hook's connection parser takes
#: its defaults and minimums from it (``mix_provider.hooks.connection``).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (s)",
        "description": "Connect and read timeout of each request, in seconds",
        "schema": {"type": ["number", "null"], "default": defaults.TIMEOUT, "minimum": defaults.MIN_TIMEOUT},
    },
    "verify_ssl": {
        "label": "Verify TLS",
        "description": "Verify the server's TLS certificate (https only)",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a transient failure (connection error, timeout, 408, 429, 500, 502, 503, 504, malformed answer)",
        "schema": {"type": ["integer", "null"], "default": defaults.MAX_RETRIES, "minimum": 0},
    },
    "retry_max_wait": {
        "label": "Max retry wait (s)",
        "description": "Upper bound of one backoff wait, Retry-After included",
        "schema": {"type": ["number", "null"], "default": defaults.RETRY_MAX_WAIT, "minimum": 0},
    },
    "headers": {
        "label": "Extra headers (JSON)",
        "description": 'Extra HTTP headers as a JSON object, e.g. {"X-Api-Key": "..."}; values are masked',
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "agents": {
        "label": "Managed agents (JSON)",
        "description": 'Session presets by agent name for common.ai, e.g. {"triage": {"custom_system_prompt": "...", "prompt_mode": "append"}}',
        "schema": {"type": ["string", "null"]},
    },
    "ui_url": {
        "label": "Mix UI URL",
        "description": "Base URL of a Mix UI; the Mix session link opens <ui_url>/sessions/<id> ({session_id} may be placed)",
        "schema": {"type": ["string", "null"]},
    },
}

#: How the standard fields look on the ``mix`` form (declarative ``ui-field-behaviour``).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema"],
    "relabeling": {"host": "Base URL", "password": "Bearer Token"},
    "placeholders": {
        "host": "http://127.0.0.1:8088",
        "port": "8088",
        "password": "optional: token for a proxy in front of Mix",
    },
}


def _connection_type() -> dict[str, Any]:
    """The ``mix`` connection type with its declarative form (Airflow >= 3.2 reads it)."""
    return {
        "connection-type": "mix",
        "hook-class-name": f"{_PKG}.hooks.mix.MixHook",
        "hook-name": "Mix",
        "ui-field-behaviour": copy.deepcopy(UI_FIELD_BEHAVIOUR),
        "conn-fields": copy.deepcopy(CONN_FIELDS),
    }


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: hooks, operators, triggers, sensors and the ``mix`` connection type."""
    return {
        "package-name": "airflow-provider-mix",
        "name": "Mix",
        "description": "Orchestrate Mix agent sessions (recreate-run) and archive their transcripts.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Mix",
                "external-doc-url": "https://github.com/recreate-run/mix",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": "Mix", "python-modules": [f"{_PKG}.hooks.mix"]}],
        "operators": [
            {
                "integration-name": "Mix",
                "python-modules": [
                    f"{_PKG}.operators.session",
                    f"{_PKG}.operators.message",
                    f"{_PKG}.operators.rewind",
                    f"{_PKG}.operators.export",
                    f"{_PKG}.operators.archive",
                    f"{_PKG}.operators.files",
                ],
            }
        ],
        "sensors": [{"integration-name": "Mix", "python-modules": [f"{_PKG}.sensors.session"]}],
        "triggers": [
            {
                "integration-name": "Mix",
                "python-modules": [f"{_PKG}.triggers.message", f"{_PKG}.triggers.session", f"{_PKG}.triggers.idle"],
            }
        ],
        "connection-types": [_connection_type()],
        "extra-links": [f"{_PKG}.links.MixSessionLink"],
        "task-decorators": [{"name": "mix", "class-name": f"{_PKG}.decorators.mix.mix_task"}],
        "config": {
            defaults.SECTION: {
                "description": "Settings of the Mix provider.",
                "options": {
                    defaults.DEFER_SETTLE_OPTION[1]: {
                        "description": (
                            "Seconds after a Mix task defers before its trigger yields an event (a permission "
                            "request, an idle session, a reply). Airflow fails a task whose trigger fires before "
                            "the scheduler has processed the deferring try's exit ('task state changed "
                            "externally'); the hold keeps that from happening. 0 turns it off; the real Mix "
                            "server waits 30 s for a permission's answer, so keep it well below that."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": str(defaults.DEFER_SETTLE),
                        "default": str(defaults.DEFER_SETTLE),
                    },
                    defaults.SESSION_LEDGER_OPTION[1]: {
                        "description": (
                            "Where every session created through the provider is recorded, one small object "
                            "per session (<location>/<conn_id>/<session id>.json): an ObjectStoragePath URL "
                            "such as s3://bucket/mix-ledger, shared by every worker. A Mix server that lists "
                            "only its 20 newest sessions shows no way to find an older session that holds no "
                            "message; the archive and list operators find the recorded ones. Empty: no ledger."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://my-bucket/mix-ledger",
                        "default": defaults.SESSION_LEDGER,
                    },
                },
            }
        },
    }
