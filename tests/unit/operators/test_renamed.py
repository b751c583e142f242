"""The operators' old names (before the ``Mix`` prefix) still import, as the new classes, with a warning."""

from __future__ import annotations

import importlib

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

RENAMED = [
    ("session", "CreateSessionOperator"),
    ("session", "GetSessionOperator"),
    ("session", "ListSessionsOperator"),
    ("session", "DeleteSessionOperator"),
    ("session", "UpdateSessionCallbacksOperator"),
    ("message", "SendMessageOperator"),
    ("rewind", "RewindSessionOperator"),
    ("export", "ExportSessionOperator"),
    ("archive", "ArchiveSessionsOperator"),
]


@pytest.mark.parametrize(("module", "old"), RENAMED)
def test_old_name_is_the_new_class_and_warns(module: str, old: str) -> None:
    mod = importlib.import_module(f"mix_provider.operators.{module}")
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"{old} is deprecated.*use Mix{old}"):
        cls = getattr(mod, old)
    assert cls is getattr(mod, f"Mix{old}")


def test_old_name_builds_a_working_task() -> None:
    from mix_provider.operators import session

    with pytest.warns(AirflowProviderDeprecationWarning):
        task = session.GetSessionOperator(task_id="get", session_id="s-1")
    assert type(task).__name__ == "MixGetSessionOperator"
    assert task.session_id == "s-1"


def test_unknown_name_is_still_an_attribute_error() -> None:
    from mix_provider.operators import message

    with pytest.raises(AttributeError, match="has no attribute 'NoSuchOperator'"):
        message.NoSuchOperator  # noqa: B018
