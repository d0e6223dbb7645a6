"""The real Prefect engine: the nightly flow, retries of transient faults, the deployment, the CLI."""

import datetime as dt
import json

import pytest
from callscope.core.errors import TransientError
from callscope.storage.recordings import LocalRecordingSource
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from tests.conftest import make_day

DAY = "2026-11-20"


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def day(settings, mono_en):
    make_day(settings.recordings, DAY, {"c1.wav": mono_en, "bad.wav": b"RIFFjunk"})
    return settings


def test_nightly_flow_writes_parquet_and_reruns_cleanly(day, monkeypatch):
    from callscope.flows.nightly import nightly

    monkeypatch.setenv("CALLSCOPE_FLOW__MAX_FAILED_SHARE", "0.5")  # one bad call of two is fine
    kwargs = dict(date=DAY, recordings=str(day.recordings), warehouse=str(day.warehouse))
    summary = nightly(**kwargs)
    assert (summary["ok"], summary["error"], summary["skipped"]) == (1, 1, 0)
    assert summary["audio_hours"] > 0 and summary["x_real_time"] > 0
    wh = Warehouse(day.warehouse)
    date = dt.date.fromisoformat(DAY)
    assert wh.read("segments", date).num_rows >= 1
    calls = {row["call_id"]: row for row in wh.read("calls", date).to_pylist()}
    assert calls["c1"]["categories_version"] and calls["c1"]["complaint_class"]
    assert calls["bad"]["categories"] is None  # error rows are not tagged
    assert calls["c1"]["emotion_version"] and calls["c1"]["customer_sentiment_q"] is not None
    scored = [s for s in wh.read("segments", date).to_pylist() if s["sentiment"] is not None]
    assert scored and all(s["emotion"] for s in scored)
    daily = wh.read("emotion_daily", date).to_pylist()
    assert {r["dimension"] for r in daily} == {"all", "queue", "agent", "category"}
    from callscope.keywords.index import SearchIndex

    index = SearchIndex(day.search_index, create=False)
    assert index.indexed_days() == {date: wh.read("segments", date).num_rows}
    word = next(w for w in wh.read("segments", date)["text"][0].as_py().split() if w.isalpha())
    assert index.search(word).total >= 1
    assert summary["handoff"] and summary["topics"] == 0  # one call makes no cluster
    assert wh.read("call_issues", date).num_rows == 1
    assert (day.handoff_dir / DAY / "manifest.json").exists()
    again = nightly(**kwargs)
    assert (again["ok"], again["skipped"]) == (0, 1)
    # the bad file is tried again, so the day is rewritten and re-indexed: replaced, not doubled
    assert wh.read("calls", date).num_rows == 2
    assert len(wh.read("emotion_daily", date)) == len(daily)
    assert index.indexed_days() == {date: wh.read("segments", date).num_rows}


class FlakySource(LocalRecordingSource):
    """Fails reads with a transient fault a set number of times (a fault we cannot cause)."""

    failures = 0

    def read(self, recording):
        if FlakySource.failures > 0:
            FlakySource.failures -= 1
            raise TransientError(f"{recording.name}: storage timed out")
        return super().read(recording)


@pytest.mark.parametrize(("failures", "status"), [(1, "ok"), (5, "error")])
def test_transient_faults_are_retried_then_recorded(day, failures, status):
    from callscope.pipeline.runner import CallRunner

    FlakySource.failures = failures
    source = FlakySource(day.recordings, day.source.extensions)
    rec = next(r for r in source.list_day(dt.date.fromisoformat(DAY)) if r.call_id == "c1")
    wh = Warehouse(day.warehouse)
    settings = day.model_copy(
        update={"flow": day.flow.model_copy(update={"retries": 1, "retry_delay_s": 0})}
    )
    [outcome] = CallRunner(settings, source, wh).run([rec], {})
    assert outcome.status == status
    assert FlakySource.failures == max(failures - 2, 0)  # one try and one retry at most
    if status == "error":
        assert "failed after 1 retries" in outcome.error and "storage timed out" in outcome.error


def test_bad_recordings_are_not_retried(day):
    from callscope.pipeline.runner import CallRunner

    class CountingSource(LocalRecordingSource):
        reads = 0

        def read(self, recording):
            CountingSource.reads += 1
            return super().read(recording)

    source = CountingSource(day.recordings, day.source.extensions)
    rec = next(r for r in source.list_day(dt.date.fromisoformat(DAY)) if r.call_id == "bad")
    [outcome] = CallRunner(day, source, Warehouse(day.warehouse)).run([rec], {})
    assert outcome.status == "error" and CountingSource.reads == 1


def test_deployment_runs_nightly_at_one_in_shanghai_without_overlap():
    from callscope.flows.deploy import nightly_deployment

    deployment = nightly_deployment(config="configs/gpu.yaml")
    schedule = deployment.schedules[0].schedule
    assert schedule.cron == "0 1 * * *" and schedule.timezone == "Asia/Shanghai"
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert deployment.parameters == {"config": "configs/gpu.yaml"}


def test_cli_nightly_calls_and_transcript(day):
    from callscope.cli import app

    runner = CliRunner()
    common = ["--warehouse", str(day.warehouse)]
    result = runner.invoke(
        app, ["nightly", "--date", DAY, "--recordings", str(day.recordings), *common, "--json"]
    )
    # one call of two failed: more than flow.max_failed_share (a quarter), so the night failed,
    # and says so in its summary and its exit code; its rows are written all the same
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["calls"] == 2 and summary["status"] == "failed"
    assert (summary["emotion_calls"], summary["emotion_segments"]) == (1, 0)  # scored with c1
    assert summary["reasons"] == [
        "1 of 2 calls failed (50%), more than flow.max_failed_share (25%)"
    ]
    listed = runner.invoke(app, ["calls", "--date", DAY, *common, "--json"])
    rows = json.loads(listed.stdout)
    assert {row["call_id"]: row["status"] for row in rows} == {"c1": "ok", "bad": "error"}
    shown = runner.invoke(app, ["transcript", "c1", *common])
    assert shown.exit_code == 0 and "plan" in shown.stdout.lower()
    measured = runner.invoke(app, ["metrics", "--date", DAY, *common, "--json"])
    (row,) = json.loads(measured.stdout)
    assert row["call_id"] == "c1" and row["n_speakers"] == 1
    assert row["talk_time_customer_s"] > 2 and row["talk_time_agent_s"] == 0
    table = runner.invoke(app, ["metrics", "--date", DAY, *common])
    assert table.exit_code == 0 and "diarized" in table.stdout


def test_night_stops_with_a_clear_error_when_the_diarizer_cannot_load(day, tmp_path):
    from callscope.cli import app

    config = tmp_path / "c.yaml"
    config.write_text("diarization:\n  pipeline: ./no-such-pipeline\n")
    args = ["nightly", "--date", DAY, "--config", str(config), "--recordings", str(day.recordings)]
    result = CliRunner().invoke(app, [*args, "--warehouse", str(day.warehouse)])
    assert result.exit_code == 2
    assert "the night could not run" in result.output and "no-such-pipeline" in result.output
    assert Warehouse(day.warehouse).read("calls", dt.date.fromisoformat(DAY)).num_rows == 0


def test_cli_errors_are_clear(tmp_path):
    from callscope.cli import app

    runner = CliRunner()
    bad_date = runner.invoke(app, ["nightly", "--date", "20-11-2026", "--warehouse", str(tmp_path)])
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    for args, message in (
        (["--from", "2026-11-20"], "--from and --to go together"),
        (["--from", "2026-11-21", "--to", "2026-11-20"], "--from is after --to"),
        (["--date", DAY, "--from", DAY, "--to", DAY], "either --date or --from/--to"),
    ):
        ranged = runner.invoke(app, ["nightly", *args, "--warehouse", str(tmp_path)])
        assert ranged.exit_code == 2 and message in ranged.output
    no_folder = runner.invoke(
        app,
        [
            "nightly",
            "--date",
            DAY,
            "--recordings",
            str(tmp_path / "none"),
            "--warehouse",
            str(tmp_path),
        ],
    )
    assert no_folder.exit_code == 2 and "no recordings folder for 2026-11-20" in no_folder.output
    bad_config = tmp_path / "c.yaml"
    bad_config.write_text("asr:\n  beam_size: -1\n")
    result = runner.invoke(
        app, ["calls", "--config", str(bad_config), "--warehouse", str(tmp_path)]
    )
    assert result.exit_code == 2 and "asr.beam_size" in result.output
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = runner.invoke(app, ["demo", "day", "--out", str(blocker / "demo")])
    assert unwritable.exit_code == 2 and "cannot write the demo day" in unwritable.output
    missing = runner.invoke(app, ["transcript", "nope", "--warehouse", str(tmp_path)])
    assert missing.exit_code == 1 and "no transcript" in missing.output
