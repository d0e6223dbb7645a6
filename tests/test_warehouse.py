import datetime as dt

import pyarrow.parquet as pq

from storage.schemas import CALLS, SEGMENTS
from storage.warehouse import Warehouse

DAY = dt.date(2026, 11, 20)


def call_row(call_id, status="ok", **extra):
    return {"call_id": call_id, "date": DAY, "status": status, "settings_hash": "h1", **extra}


def segment_rows(call_id, n):
    return [
        {
            "call_id": call_id,
            "date": DAY,
            "idx": i,
            "start_s": float(i),
            "end_s": i + 0.5,
            "speaker": "agent",
            "text": f"第{i}句",
            "words": [{"word": "第", "start": float(i), "end": i + 0.2, "prob": 0.9}],
        }
        for i in range(n)
    ]


def test_schema_round_trip(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a", duration_s=3.5), segment_rows("a", 2))
    assert wh.commit_day(DAY) == 1
    calls_file = tmp_path / "calls" / "date=2026-11-20" / "part-0.parquet"
    assert pq.read_schema(calls_file).equals(CALLS)
    assert pq.read_schema(tmp_path / "segments" / "date=2026-11-20" / "part-0.parquet").equals(
        SEGMENTS
    )
    segments = wh.read("segments", DAY).to_pylist()
    assert segments[1]["text"] == "第1句" and segments[0]["words"][0]["word"] == "第"


def test_restaging_a_call_replaces_its_rows(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a"), segment_rows("a", 3))
    wh.stage_call(DAY, call_row("b"), segment_rows("b", 1))
    wh.commit_day(DAY)
    wh.stage_call(DAY, call_row("a", settings_hash="h2"), segment_rows("a", 2))
    wh.commit_day(DAY)
    calls = wh.read("calls", DAY)
    assert sorted(calls["call_id"].to_pylist()) == ["a", "b"]
    assert wh.read("segments", DAY).num_rows == 3
    assert wh.done_calls(DAY)["a"]["settings_hash"] == "h2"


def test_commit_after_a_crash_does_not_duplicate(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a"), segment_rows("a", 2))
    staged = list(wh.staging_dir(DAY).iterdir())
    wh.commit_day(DAY)
    # A crash after the partitions were replaced but before staging was cleared:
    for path in staged:
        path.write_bytes(b"")  # placeholder so the names exist again
    wh.stage_call(DAY, call_row("a"), segment_rows("a", 2))
    wh.commit_day(DAY)
    assert wh.read("calls", DAY).num_rows == 1 and wh.read("segments", DAY).num_rows == 2
    assert list(wh.staging_dir(DAY).iterdir()) == []


def test_staged_but_uncommitted_calls_count_as_done(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a", audio_sha256="x"), [])
    assert wh.done_calls(DAY)["a"]["audio_sha256"] == "x"
    assert wh.read("calls", DAY).num_rows == 0
