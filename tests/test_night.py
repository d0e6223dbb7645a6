"""A whole night without the orchestrator: bad files, non-ASCII names, idempotent reruns."""

import datetime as dt

import pytest
from callscope.pipeline.night import run_night
from callscope.storage.recordings import LocalRecordingSource
from callscope.storage.warehouse import Warehouse

from tests.conftest import make_day, write_tone

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def night(tmp_path, settings, mono_en, stereo_call):
    wav = write_tone(tmp_path / "long.wav", 6.0).read_bytes()
    make_day(
        settings.recordings,
        DAY.isoformat(),
        {
            "客户来电-01.wav": mono_en,
            "stereo-02.flac": stereo_call,
            "empty-03.wav": b"",
            "corrupt-04.mp3": b"\xff\xfb\x90\x00" + b"garbage" * 50,
            "truncated-05.wav": wav[: len(wav) // 2],
            "notes-06.txt": b"not audio",
        },
        "call_id,agent_id,queue,channel_layout\nstereo-02,A1,preorder,agent_left\n"
        "missing-07,A2,billing,mono\n",
    )
    source = LocalRecordingSource(settings.recordings, settings.source.extensions)
    return source, Warehouse(settings.warehouse)


def test_night_with_bad_files_and_idempotent_rerun(night, settings):
    source, warehouse = night
    first = run_night(DAY, source, warehouse, settings)
    calls = {row["call_id"]: row for row in warehouse.read("calls", DAY).to_pylist()}
    assert set(calls) == {
        "客户来电-01",
        "stereo-02",
        "empty-03",
        "corrupt-04",
        "truncated-05",
        "notes-06",
        "missing-07",
    }
    assert first.count("ok") == 2 and first.count("error") == 5
    assert (
        calls["stereo-02"]["agent_id"] == "A1"
        and calls["stereo-02"]["channel_layout"] == "agent_left"
    )
    assert "empty file" in calls["empty-03"]["error"]
    assert "truncated" in calls["truncated-05"]["error"]
    assert "unsupported file type" in calls["notes-06"]["error"]
    assert "no recording file" in calls["missing-07"]["error"]
    assert "corrupt-04.mp3" in calls["corrupt-04"]["error"]
    segments = warehouse.read("segments", DAY)
    by_call = {}
    for row in segments.to_pylist():
        by_call.setdefault(row["call_id"], []).append(row)
    assert {r["speaker"] for r in by_call["stereo-02"]} == {"agent", "customer"}
    # one voice asking to change a plan: one diarized speaker, the customer
    assert {r["speaker"] for r in by_call["客户来电-01"]} == {"customer"}
    assert calls["客户来电-01"]["n_speakers"] == 1
    assert calls["客户来电-01"]["diarization"] == settings.diarization.pipeline
    assert calls["stereo-02"]["diarization"] == "channels"
    assert (
        calls["stereo-02"]["talk_time_agent_s"] > 3
        and calls["stereo-02"]["talk_time_customer_s"] > 3
    )
    assert calls["客户来电-01"]["audio_sha256"] and calls["客户来电-01"]["settings_hash"]
    issues = {row["call_id"]: row for row in warehouse.read("call_issues", DAY).to_pylist()}
    assert set(issues) == {"客户来电-01", "stereo-02"}
    assert "pre-order" in issues["stereo-02"]["statement"]  # the customer's words, not the agent's
    assert first.handoff and (first.handoff.folder / "manifest.json").exists()
    assert first.handoff.calls == 2

    rows_before = (warehouse.read("calls", DAY).num_rows, segments.num_rows)
    second = run_night(DAY, source, warehouse, settings)
    assert second.count("skipped") == 2 and second.count("ok") == 0
    assert (
        warehouse.read("calls", DAY).num_rows,
        warehouse.read("segments", DAY).num_rows,
    ) == rows_before


def test_changed_settings_reprocess_without_duplicates(night, settings):
    source, warehouse = night
    ok_only = [rec for rec in source.list_day(DAY) if rec.call_id == "客户来电-01"]
    run_night(DAY, source, warehouse, settings, recordings=ok_only)
    n_segments = warehouse.read("segments", DAY).num_rows
    changed = settings.model_copy(update={"asr": settings.asr.model_copy(update={"beam_size": 2})})
    again = run_night(DAY, source, warehouse, changed, recordings=ok_only)
    assert again.count("ok") == 1
    assert warehouse.read("calls", DAY).num_rows == 1
    assert warehouse.read("segments", DAY).num_rows == n_segments


def test_no_handoff_when_a_step_of_the_night_fails(night, settings, monkeypatch):
    from callscope.keywords import daily as keywords_daily

    source, warehouse = night
    ok_only = [rec for rec in source.list_day(DAY) if rec.call_id == "stereo-02"]

    def broken_index(*args):
        raise OSError("disk full while indexing")

    monkeypatch.setattr(keywords_daily, "update_index", broken_index)
    with pytest.raises(OSError):
        run_night(DAY, source, warehouse, settings, recordings=ok_only)
    assert not (settings.handoff_dir / DAY.isoformat()).exists()
    assert warehouse.read("calls", DAY).num_rows == 1  # what was done is kept for the rerun
    monkeypatch.undo()
    rerun = run_night(DAY, source, warehouse, settings, recordings=ok_only)
    assert rerun.count("skipped") == 1
    assert (settings.handoff_dir / DAY.isoformat() / "manifest.json").exists()
