"""Exit codes a scheduler can trust (docs/operations/exit-codes.md): a night that ran but failed
its job exits 1 with its summary and error rows and its flow run ends Failed; bad arguments
exit 2 before Prefect starts or a folder is made; read commands say what is wrong in one line.

The nights run the real CLI and the real Prefect engine with the recogniser alone (no diarizer,
emotion or incident models to load), on the smallest real recording (tests/data/en_mono.wav)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app
from tests.conftest import make_day

REPO = Path(__file__).resolve().parent.parent
DAY = "2026-11-20"
BROKEN = {"a.wav": b"RIFFjunk", "b.mp3": b"\xff\xfb\x90\x00" + b"garbage" * 50}
ALL_FAILED = "every call failed (2 of 2)"


@pytest.fixture(scope="module")
def prefect_api():
    # the flow imported here, not first inside a CliRunner: Prefect's console handler keeps
    # the stderr it sees when it is imported, and a CliRunner's is closed after each command
    import callscope.flows.nightly  # noqa: F401
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def lean(prefect_api, monkeypatch, tmp_path):
    """Nights on the test's Prefect server (none started per night), the recogniser alone;
    (recordings root, warehouse)."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    for section in ("DIARIZATION", "EMOTION", "INCIDENTS"):
        monkeypatch.setenv(f"CALLSCOPE_{section}__ENABLED", "false")
    return tmp_path / "recordings", tmp_path / "warehouse"


def _night(recordings: Path, warehouse: Path, *options: str):
    args = [
        "nightly",
        "--date",
        DAY,
        "--recordings",
        str(recordings),
        "--warehouse",
        str(warehouse),
    ]
    return CliRunner().invoke(app, [*args, *options])


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def _statuses(warehouse: Path) -> dict[str, str]:
    rows = Warehouse(warehouse).read("calls", dt.date.fromisoformat(DAY)).to_pylist()
    return {row["call_id"]: row["status"] for row in rows}


# nights -----------------------------------------------------------------------------------------
def test_a_night_of_only_broken_files_exits_1_and_keeps_its_error_rows(lean):
    recordings, warehouse = lean
    make_day(recordings, DAY, BROKEN)
    told = _night(recordings, warehouse)
    assert told.exit_code == 1, told.output
    assert told.stdout.strip().splitlines()[-1] == f"night {DAY} FAILED: {ALL_FAILED}"
    assert _error_lines(told.stderr) == [f"error: the night of {DAY} failed: {ALL_FAILED}"]
    assert _statuses(warehouse) == {"a": "error", "b": "error"}

    again = _night(recordings, warehouse, "--json")  # the bad files are tried again
    assert again.exit_code == 1, again.output
    summary = json.loads(again.stdout)
    assert (summary["status"], summary["reasons"]) == ("failed", [ALL_FAILED])
    assert (summary["calls"], summary["error"]) == (2, 2)
    assert {error["call_id"] for error in summary["errors"]} == {"a", "b"}
    assert _statuses(warehouse) == {"a": "error", "b": "error"}  # replaced, not doubled


def test_the_flow_run_of_an_all_broken_night_is_failed(lean):
    from callscope.core.errors import NightFailed
    from callscope.flows.nightly import nightly
    from prefect import get_client

    recordings, warehouse = lean
    make_day(recordings, DAY, BROKEN)
    paths = {"recordings": str(recordings), "warehouse": str(warehouse)}
    state = nightly(date=DAY, **paths, return_state=True)
    assert state.is_failed() and ALL_FAILED in state.message
    failure = state.result(raise_on_failure=False)
    assert isinstance(failure, NightFailed) and failure.summary["reasons"] == [ALL_FAILED]
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id)
    assert stored.state.is_failed() and ALL_FAILED in stored.state.message
    with pytest.raises(NightFailed, match="every call failed"):
        nightly(date=DAY, **paths)  # called as a function, a failed night raises


def test_one_bad_call_among_good_ones_exits_0(lean, mono_en, monkeypatch):
    recordings, warehouse = lean
    monkeypatch.setenv("CALLSCOPE_FLOW__MAX_FAILED_SHARE", "0.6")  # one of two is under it
    make_day(recordings, DAY, {"good.wav": mono_en, "bad.wav": BROKEN["a.wav"]})
    told = _night(recordings, warehouse, "--json")
    assert told.exit_code == 0, told.output
    summary = json.loads(told.stdout)
    assert (summary["status"], summary["reasons"]) == ("ok", [])
    assert (summary["ok"], summary["error"]) == (1, 1)
    assert _statuses(warehouse) == {"good": "ok", "bad": "error"}
    assert not _error_lines(told.stderr)


def test_a_day_step_that_fails_fails_the_night(lean, mono_en, monkeypatch):
    recordings, warehouse = lean
    monkeypatch.setenv("CALLSCOPE_INCIDENTS__ENABLED", "true")
    make_day(recordings, DAY, {"good.wav": mono_en})
    warehouse.mkdir()
    (warehouse / "incidents").write_text("")  # a file where the incidents table goes
    told = _night(recordings, warehouse, "--json")
    assert told.exit_code == 1, told.output
    summary = json.loads(told.stdout)
    [reason] = summary["reasons"]
    assert reason.startswith("day step incidents failed: ")
    assert summary["steps"]["index"] == "ran" and summary["steps"]["incidents"] == "failed"
    assert "handoff" not in summary["steps"]  # it hands off what the failed step writes
    assert _statuses(warehouse) == {"good": "ok"}  # the calls were committed before it
    assert _error_lines(told.stderr) == [f"error: the night of {DAY} failed: {reason}"]


def test_a_range_runs_every_night_then_names_those_that_failed(lean):
    recordings, warehouse = lean
    make_day(recordings, DAY, BROKEN)
    (recordings / "2026-11-21").mkdir()  # a day without calls: a good night with nothing to do
    args = ["nightly", "--from", DAY, "--to", "2026-11-21", "--recordings", str(recordings)]
    told = CliRunner().invoke(app, [*args, "--warehouse", str(warehouse), "--json"])
    assert told.exit_code == 1, told.output
    first, second = json.loads(told.stdout)
    assert (first["date"], first["status"], first["reasons"]) == (DAY, "failed", [ALL_FAILED])
    assert (second["date"], second["status"], second["calls"]) == ("2026-11-21", "ok", 0)
    assert _error_lines(told.stderr) == [
        f"error: 1 of 2 nights failed: {DAY}; see each night's summary"
    ]


# bad arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-11-21"], "no recordings folder for 2026-11-21: "),
        (["--from", DAY, "--to", "2026-11-22"], "for 2026-11-21, 2026-11-22 (2 of 3 nights)"),
        (["--date", "2026-02-30"], "--date '2026-02-30' is not a date; use YYYY-MM-DD"),
        (["--date", DAY, "--config", "missing.yaml"], "config file missing.yaml not found"),
    ],
    ids=["missing day folder", "range", "bad date", "missing config"],
)
def test_bad_arguments_exit_2_before_prefect_starts(tmp_path, args, message):
    recordings, warehouse, home = tmp_path / "rec", tmp_path / "warehouse", tmp_path / "prefect"
    make_day(recordings, DAY, BROKEN)
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "callscope.cli", "nightly", *args]
    started = time.monotonic()
    done = subprocess.run(
        [*command, "--recordings", str(recordings), "--warehouse", str(warehouse)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and message in line
    assert not warehouse.exists()
    assert not home.exists()  # Prefect never started: no home, no database of its own
    assert took < 5, f"{took:.1f} s: did a Prefect server start first?"


# read commands ----------------------------------------------------------------------------------
READERS = [
    ["calls"],
    ["metrics"],
    ["transcript", "c1"],
    ["search", "预约"],
    ["categories", "list"],
    ["incidents"],
    ["trends"],
    ["emotion", "apply", "--date", DAY],
]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_missing_warehouse_is_exit_3_naming_it(tmp_path, command):
    missing = tmp_path / "no-warehouse"
    result = CliRunner().invoke(app, [*command, "--warehouse", str(missing)])
    assert result.exit_code == 3, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"error: no warehouse at {missing}: run `callscope nightly` first")
    assert "--warehouse" in line
    assert not missing.exists()


def test_an_unknown_status_or_an_incomplete_query_is_one_error_line(tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    runner = CliRunner()
    where = ["--warehouse", str(warehouse)]
    broken = runner.invoke(app, ["calls", "--status", "broken", *where])
    assert broken.exit_code == 2
    assert broken.output.splitlines() == [
        "error: --status 'broken' is not a call status: use ok or error"
    ]
    assert runner.invoke(app, ["index", "update", *where]).exit_code == 0
    for query in ("预约 AND", "AND 预约", "预约 AND AND 退款"):
        searched = runner.invoke(app, ["search", query, *where])
        assert searched.exit_code == 2, (query, searched.output)
        assert searched.output.splitlines() == [
            "error: AND needs a word on each side: write e.g. 预约 AND 退款"
        ]
    assert runner.invoke(app, ["search", "预约 AND 退款", *where]).exit_code == 0
