import datetime as dt

import pytest
from callscope.storage.recordings import LocalRecordingSource, SourceError

from tests.conftest import make_day, write_tone

DAY = dt.date(2026, 11, 20)


def source(root):
    return LocalRecordingSource(root, ["wav", "flac"], "Asia/Shanghai")


def test_lists_calls_with_manifest_metadata(tmp_path):
    tone = write_tone(tmp_path / "t.wav")
    make_day(
        tmp_path,
        "2026-11-20",
        {"c1.wav": tone, "客户来电.wav": tone, "notes.txt": b"x"},
        "call_id,started_at,agent_id,queue,channel_layout\n"
        "c1,2026-11-20T09:30:00,A7,billing,customer_left\n"
        "ghost,2026-11-20T10:00:00,A8,billing,mono\n",
    )
    recs = {rec.call_id: rec for rec in source(tmp_path).list_day(DAY)}
    assert set(recs) == {"c1", "客户来电", "notes", "ghost"}
    c1 = recs["c1"]
    assert c1.meta.agent_id == "A7" and c1.meta.channel_layout == "customer_left"
    assert c1.meta.started_at == dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.UTC)
    assert c1.problem is None and recs["客户来电"].problem is None
    assert "unsupported file type .txt" in recs["notes"].problem
    assert "no recording file" in recs["ghost"].problem and recs["ghost"].uri is None


def test_bad_manifest_row_fails_only_that_call(tmp_path):
    tone = write_tone(tmp_path / "t.wav")
    make_day(
        tmp_path,
        "2026-11-20",
        {"c1.wav": tone, "c2.wav": tone},
        "call_id,started_at,channel_layout\nc1,yesterday,left\nc2,,mono\n",
    )
    recs = {rec.call_id: rec for rec in source(tmp_path).list_day(DAY)}
    assert "manifest.csv line 2" in recs["c1"].problem
    assert (
        "channel_layout 'left'" in recs["c1"].problem
        and "started_at 'yesterday'" in recs["c1"].problem
    )
    assert recs["c2"].problem is None


def test_missing_day_folder_stops_the_run(tmp_path):
    with pytest.raises(SourceError, match="no recordings folder for 2026-11-20"):
        source(tmp_path).list_day(DAY)


def test_manifest_without_call_id_column(tmp_path):
    make_day(tmp_path, "2026-11-20", {}, "id,agent\n1,2\n")
    with pytest.raises(SourceError, match="no call_id column"):
        source(tmp_path).list_day(DAY)


def test_sidecar_metadata_files_are_neither_calls_nor_errors(tmp_path):
    tone = write_tone(tmp_path / "t.wav")
    make_day(
        tmp_path / "rec",
        "2026-11-20",
        {"c1.wav": tone.read_bytes(), "truth.json": b"{}", "c1.xml": b"<call/>", "x.txt": b"?"},
    )
    listed = {
        r.call_id: r.problem for r in source(tmp_path / "rec").list_day(dt.date(2026, 11, 20))
    }
    assert set(listed) == {"c1", "x"}
    assert listed["c1"] is None and "unsupported file type" in listed["x"]
