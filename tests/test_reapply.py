"""Emotion, redaction and rules re-applied over a range of days: in local processes, on a work
pool's worker (a real Prefect server and `callscope worker`), and in this process, the stored
days are the same; a day that cannot run does not stop the others."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from callscope.core.config import load_config
from callscope.pipeline.runner import StagingBatch, batch_share
from callscope.pipeline.steps import STEPS, DayRunner
from callscope.storage.warehouse import Warehouse
from callscope.synth.scripts import plan_days
from typer.testing import CliRunner

from callscope.cli import app
from tests.night_support import processed_call
from tests.test_scale_out import _prefect_server

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 10, 1)
DAYS = [START, START + dt.timedelta(days=1)]
RANGE = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]
NEW = {"name": "new_phone_preorder", "any": ["预约", "首发", "新手机"], "speaker": "customer"}
TABLES = ("calls", "segments", "emotion_daily", "keyword_hits")
WHEN_PROCESSED = {"processed_at"}  # not a result of the steps
NIGHT_BUT_REDACTION = [step.name for step in STEPS if step.name != "redact"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """Two nights of 12 text-only calls each, redacted with older rules (the text as said,
    stamped with an older version) and run through the night's steps but the redaction."""
    root = tmp_path_factory.mktemp("reapply")
    settings = load_config(None, warehouse=root / "warehouse")
    store = Warehouse.from_settings(settings)
    share = batch_share(settings)
    for plan in plan_days(START, len(DAYS), 5, 12, 4):
        with StagingBatch(store, 12, 1e9, share) as batch:
            for call in plan.calls:
                batch.stage_call(plan.date, *processed_call(call, plan.date, redacted=False))
        DayRunner(store, plan.date, settings).run(only=NIGHT_BUT_REDACTION)
    return root / "warehouse"


def _copy(stored: Path, tmp_path: Path, name: str, config: dict) -> tuple[Path, Path]:
    """A copy of the stored warehouse and a config file that points at it."""
    warehouse = tmp_path / name
    shutil.copytree(stored, warehouse)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"warehouse": str(warehouse), **config}), encoding="utf-8")
    return warehouse, path


def _tables(warehouse: Path) -> dict:
    store = Warehouse(warehouse)
    found = {}
    for day in DAYS:
        for table in TABLES:
            rows = store.read(table, day)
            kept = [name for name in rows.column_names if name not in WHEN_PROCESSED]
            found[day, table] = rows.select(kept).to_pylist()
    return found


def _apply(*args: str) -> list[dict]:
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


FIGURES = {
    "emotion": ("calls", "segments", "angry_customers", "escalation_risks", "refreshed"),
    "redact": ("calls", "already_current", "segments", "changed", "spans", "incidents_rebuilt"),
}


@pytest.mark.parametrize(
    ("command", "config"),
    [("emotion", {"emotion": {"end_weight": 3.5}}), ("redact", {})],
)
def test_a_range_over_two_processes_stores_what_one_process_stores(
    stored, tmp_path, command, config
):
    before = _tables(stored)
    one_warehouse, one = _copy(stored, tmp_path, "one", config)
    two_warehouse, two = _copy(stored, tmp_path, "two", config)

    serial = _apply(command, "apply", *RANGE, "--workers", "1", "--config", str(one))
    parallel = _apply(command, "apply", *RANGE, "--workers", "2", "--config", str(two))

    assert [row["date"] for row in parallel] == [day.isoformat() for day in DAYS]
    for mine, theirs in zip(parallel, serial, strict=True):
        assert {key: mine[key] for key in FIGURES[command]} == {
            key: theirs[key] for key in FIGURES[command]
        }
        assert mine["calls_per_s"] > 0 and mine["seconds"][command] > 0
    stored_then = _tables(two_warehouse)
    assert stored_then == _tables(one_warehouse)
    if command == "redact":  # the older rules' leaks are redacted now
        assert all(row["changed"] > 0 and row["incidents_rebuilt"] for row in parallel)
        assert stored_then[DAYS[0], "segments"] != before[DAYS[0], "segments"]
    else:
        assert {"index", "incidents"} <= set(parallel[0]["refreshed"])
        assert stored_then[DAYS[0], "calls"] != before[DAYS[0], "calls"]


def test_a_locked_day_does_not_stop_the_others_and_is_named_at_the_end(stored, tmp_path):
    warehouse, config = _copy(stored, tmp_path, "locked", {"lock": {"wait_s": 0.5}})
    lock = warehouse / "_locks" / f"date={DAYS[0]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = {"host": "gpu-node-7", "pid": 4242, "purpose": "nightly flow", "token": "0" * 32}
    lock.write_text(json.dumps({**holder, "since": "2026-11-21T01:00:00+00:00"}))

    done = CliRunner().invoke(app, ["emotion", "apply", *RANGE, "--config", str(config)])

    assert done.exit_code == 75, done.output
    assert f"[1/2] {DAYS[1]}: " in done.output and "calls/s)" in done.output
    [error] = [line for line in done.output.splitlines() if line.startswith("error:")]
    assert f"1 of 2 days failed ({DAYS[0]}: " in error and "gpu-node-7" in error


def test_workers_and_fan_out_together_are_refused(stored, tmp_path):
    _, config = _copy(stored, tmp_path, "both", {})
    args = ["redact", "apply", *RANGE, "--workers", "2", "--fan-out", "--config", str(config)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2 and "--workers N" in done.output


def test_fan_out_without_a_prefect_server_says_what_to_set(stored, tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    _, config = _copy(stored, tmp_path, "no-server", {})
    done = CliRunner().invoke(app, ["emotion", "apply", *RANGE, "--fan-out", "--config", config])
    assert done.exit_code == 2 and "PREFECT_API_URL" in done.output


# the work pool ---------------------------------------------------------------------------
def _rules(tmp_path: Path) -> Path:
    rules = yaml.safe_load(Path(load_config(None).keywords.rules).read_text(encoding="utf-8"))
    rules["categories"].append(NEW)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow  # a Prefect server, a worker and a flow run per day: about a minute
def test_a_range_on_a_work_pool_worker_stores_what_the_local_apply_stores(stored, tmp_path):
    rules = {"keywords": {"rules": str(_rules(tmp_path))}}
    here_warehouse, here = _copy(stored, tmp_path, "here", rules)
    pool_warehouse, pooled = _copy(stored, tmp_path, "pooled", rules)
    local = _apply("categories", "apply", *RANGE, "--config", str(here))

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CALLSCOPE_FLOW__WORK_POOL": "reapply-pool"}
    with _prefect_server(tmp_path / "prefect-home") as url:
        env |= {"PREFECT_API_URL": url, "CALLSCOPE_FLOW__PART_POLL_S": "0.5"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "callscope.cli", "worker", "--pool", "reapply-pool"],
            cwd=REPO,
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
            stdout=(tmp_path / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            command = [sys.executable, "-m", "callscope.cli", "categories", "apply", *RANGE]
            started = time.monotonic()
            done = subprocess.run(
                [*command, "--fan-out", "--json", "--config", str(pooled)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            took = time.monotonic() - started
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-3000:] + (tmp_path / "worker.log").read_text()[-3000:]
    fanned = json.loads(done.stdout)
    assert "sent to work pool reapply-pool" in done.stderr, took
    figures = ("calls", "tagged", "hits", "tagged_now", "redone", "refreshed")
    for mine, theirs in zip(fanned, local, strict=True):
        assert {key: mine[key] for key in figures} == {key: theirs[key] for key in figures}
        assert "new_phone_preorder" in mine["redone"] and mine["tagged_now"] > 0
    assert _tables(pool_warehouse) == _tables(here_warehouse)
    parts = pool_warehouse / "_parts"
    assert not parts.exists() or not any(path.is_file() for path in parts.rglob("*"))


class _FlowRunsOfADeadWorker:
    """The Prefect API's view of a day whose worker's host died mid-run: running, for ever
    (the fault the heartbeat exists for; no worker can be made to vanish that way here)."""

    def __init__(self):
        self.crashed: list[tuple[str, str]] = []

    def read_flow_run(self, flow_run_id: str):
        from prefect.states import Running

        return type("FlowRun", (), {"state": Running()})()

    def set_flow_run_state(self, flow_run_id: str, state, force: bool = False) -> None:
        self.crashed.append((flow_run_id, state.message))


def test_a_work_pool_day_whose_heartbeat_stops_is_run_again_then_fails_by_name(tmp_path):
    from callscope.flows.backfill import WorkPoolDays, _Day, beat_name
    from callscope.pipeline.parts import Heartbeat

    settings = load_config(None, warehouse=tmp_path / "warehouse")
    flow = settings.flow.model_copy(update={"part_lost_after_s": 30.0, "part_retries": 1})
    pool = WorkPoolDays(settings.model_copy(update={"flow": flow}), {})
    entry, client = _Day(START, ["run-1"]), _FlowRunsOfADeadWorker()
    pool._submit = lambda entry, start: entry.flow_runs.append(f"run-{len(entry.flow_runs) + 1}")
    beat = Path(pool.store.part_file_path(START, f"{beat_name(pool.run_id)}.beat"))

    for attempt in (1, 2):
        Heartbeat(pool.store, START, beat_name(pool.run_id), attempt, 60).beat()
        assert pool._check(client, entry, "categories") is None  # beating: still running
        os.utime(beat, (time.time() - 45, time.time() - 45))  # then its worker died
        result = pool._check(client, entry, "categories")
    assert [run for run, _ in client.crashed] == ["run-1", "run-2"]
    assert all("no heartbeat for 4" in message for _, message in client.crashed)
    assert entry.flow_runs == ["run-1", "run-2"]  # sent again once, then out of retries
    assert "lost on the work pool 2 times" in result.reason
