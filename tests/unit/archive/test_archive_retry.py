"""A transcript cut mid-body is fetched again from the start, leaving one clean file; when retries
run out, nothing is left. The transport is mocked; the hook, client and writer are real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from test_archive_transcript import BODY

from mix_provider.archive import ExportSpec, export_transcript
from mix_provider.errors import MixTransportError
from mix_provider.hooks.mix import MixHook
from support.fakes import define_conn

CONN = "mix_archive_unit_retry"
HookFactory = Callable[[list[int | None], list[str]], MixHook]


class CutStream(httpx.SyncByteStream):
    """A body that sends ``cut`` bytes, then fails as a dropped connection would (or ends, uncut)."""

    def __init__(self, cut: int | None) -> None:
        self.cut = cut

    def __iter__(self) -> Iterator[bytes]:
        end = len(BODY) if self.cut is None else self.cut
        yield from (BODY[i : min(i + 100, end)] for i in range(0, end, 100))
        if self.cut is not None:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def transport(cuts: list[int | None], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, stream=CutStream(cuts.pop(0)), headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


@pytest.fixture
def hook_for(monkeypatch: pytest.MonkeyPatch) -> HookFactory:
    conn = {"conn_type": "mix", "host": "http://mix.invalid:8088", "extra": {"max_retries": 2, "retry_max_wait": 0}}
    define_conn(monkeypatch, CONN, **conn)

    def _make(cuts: list[int | None], seen: list[str]) -> MixHook:
        return MixHook(CONN, transport=transport(cuts, seen))

    return _make


def export(hook: MixHook, target: ObjectStoragePath) -> dict[str, object]:
    return export_transcript(hook, "s1", target, ExportSpec("jsonl", "gzip")).xcom()


def test_a_cut_body_is_fetched_again_from_the_start(hook_for: HookFactory, tmp_path: Path) -> None:
    seen: list[str] = []
    target = ObjectStoragePath(f"file://{tmp_path}/out/s1.jsonl.gz")
    result = export(hook_for([len(BODY) // 2, 7, None], seen), target)
    assert seen == ["/api/sessions/s1/export"] * 3
    assert result["messages"] == 3 and result["bytes"] == target.stat().st_size
    assert sorted(p.name for p in target.parent.iterdir()) == ["s1.jsonl.gz"]


def test_when_retries_run_out_nothing_is_left(hook_for: HookFactory, tmp_path: Path) -> None:
    seen: list[str] = []
    target = ObjectStoragePath(f"file://{tmp_path}/out/s1.jsonl.gz")
    with pytest.raises(MixTransportError, match="RemoteProtocolError"):
        export(hook_for([50, 60, 70], seen), target)
    assert len(seen) == 3
    assert list(target.parent.iterdir()) == []
