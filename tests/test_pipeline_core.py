"""The pipeline core: one step graph, the call key, one writer per day, errors that read as one
line (CLI) or a 503 (web), and the package layering."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from callscope.pipeline.night import run_night
from callscope.pipeline.steps import STEPS, downstream
from callscope.storage.recordings import LocalRecordingSource
from callscope.storage.warehouse import Warehouse
from callscope.synth.demoday import CLIPS
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callscope.cli import app
from tests.conftest import make_day

DAY = dt.date(2026, 11, 20)
REPO = Path(__file__).resolve().parent.parent
STAGES = ("asr", "keywords", "emotion", "incidents")
BELOW_STAGES = {"core": set(), "storage": {"core"}, "privacy": {"core", "storage"}}
PRODUCT_PACKAGES = (
    *STAGES,
    "core",
    "storage",
    "privacy",
    "callscope",
    "pipeline",
    "flows",
    "web",
    "synth",
)


# the step graph ------------------------------------------------------------------------------
def test_steps_come_after_what_they_read():
    names = [step.name for step in STEPS]
    for position, step in enumerate(STEPS):
        assert all(names.index(up) < position for up in step.after), step.name
    assert [s.name for s in downstream("categories")] == [
        "categories",
        "emotion",
        "index",
        "incidents",
        "handoff",
    ]
    assert [s.name for s in downstream("incidents")] == ["incidents", "handoff"]
    with pytest.raises(ValueError, match="no step 'nope'"):
        downstream("nope")


def _grep(pattern: str, *options: str) -> list[str]:
    found = subprocess.run(
        ["git", "grep", "--untracked", *options, "-E", pattern, "--", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return found.stdout.splitlines()


DAY_STEP_CALLS = (
    "commit_day",
    "reapply_redaction",
    "apply_categories",
    "apply_emotion",
    "update_index",
    "apply_incidents",
    "write_handoff",
)


def test_the_day_step_order_is_written_in_one_place():
    """Only the runner calls more than one day step; everything else goes through it."""
    pattern = r"\b(" + "|".join(DAY_STEP_CALLS) + r")\("
    steps_by_file: dict[str, set[str]] = {}
    for line in _grep(pattern):
        path, _, code = line.partition(":")
        if not path.startswith("tests/") and not code.lstrip().startswith("def "):
            steps_by_file.setdefault(path, set()).update(re.findall(pattern, code))
    several = {path for path, calls in steps_by_file.items() if len(calls) > 1}
    assert several == {"pipeline/steps.py"}
    assert steps_by_file["pipeline/steps.py"] == set(DAY_STEP_CALLS)


def test_parquet_files_are_touched_only_by_the_warehouse_module():
    pattern = r"part-0\.parquet|pq\.(read_table|write_table|ParquetFile)|pyarrow\.parquet"
    # the documentation's hooks name the files' layout in prose, and open none
    users = {p for p in _grep(pattern, "-l") if not p.startswith(("tests/", "docs/"))}
    assert users <= {"storage/warehouse.py", "bench/table_format.py"}


def _package(module: str) -> str:
    """The repository folder a module lives in: callscope.asr.call -> asr, callscope.cli ->
    callscope; a third-party module keeps its own top-level name."""
    parts = module.split(".")
    if parts[0] == "callscope" and len(parts) > 1 and (REPO / parts[1]).is_dir():
        return parts[1]
    return parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(_package(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(_package(node.module))
    return names


def test_stages_never_import_each_other_and_foundations_import_no_stage():
    project = set(STAGES) | set(BELOW_STAGES) | {"callscope", "pipeline", "flows", "web", "synth"}
    for package in (*STAGES, *BELOW_STAGES):
        allowed = BELOW_STAGES.get(package, set(BELOW_STAGES)) | {package}
        for path in sorted((REPO / package).glob("*.py")):
            wrong = (_imports(path) & project) - allowed
            assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}"
    for path in sorted(REPO.glob("*/*.py")):
        if path.parts[-2] in STAGES + tuple(BELOW_STAGES):
            assert "prefect" not in _imports(path), f"{path.relative_to(REPO)} imports prefect"


# the night, its steps and the call key -------------------------------------------------------
@pytest.fixture
def two_calls(settings, mono_en, stereo_call):
    manifest = "call_id,agent_id,queue,channel_layout\nstereo-b,A2,billing,agent_left\n"
    make_day(
        settings.recordings,
        DAY.isoformat(),
        {"mono-a.wav": mono_en, "stereo-b.flac": stereo_call},
        manifest,
    )
    return LocalRecordingSource(settings.recordings, settings.source.extensions)


def _statuses(summary) -> dict[str, str]:
    return {outcome.call_id: outcome.status for outcome in summary.outcomes}


def test_a_corrected_manifest_row_or_layout_redoes_only_those_calls(two_calls, settings):
    store = Warehouse(settings.warehouse)
    first = run_night(DAY, two_calls, store, settings)
    assert _statuses(first) == {"mono-a": "ok", "stereo-b": "ok"}
    assert {name: o.status for name, o in first.steps.items()} == dict.fromkeys(
        [s.name for s in STEPS], "ran"
    )
    kept = {r["call_id"]: r["processed_at"] for r in store.read("calls", DAY).to_pylist()}

    again = run_night(DAY, two_calls, store, settings)
    assert set(_statuses(again).values()) == {"skipped"}
    assert {o.status for name, o in again.steps.items() if name != "commit"} == {"skipped"}

    manifest = settings.recordings / DAY.isoformat() / "manifest.csv"
    manifest.write_text(
        "call_id,agent_id,queue,channel_layout\nstereo-b,A2,preorder,customer_left\n"
    )
    corrected = run_night(DAY, two_calls, store, settings)
    assert _statuses(corrected) == {"mono-a": "skipped", "stereo-b": "ok"}
    rows = {r["call_id"]: r for r in store.read("calls", DAY).to_pylist()}
    assert rows["stereo-b"]["queue"] == "preorder"
    assert rows["stereo-b"]["channel_layout"] == "customer_left"
    assert rows["mono-a"]["processed_at"] == kept["mono-a"]
    assert corrected.steps["incidents"].status == "ran"  # the day's outputs follow

    relaid = settings.model_copy(deep=True)
    relaid.source.default_channel_layout = "customer_left"  # mono-a has no manifest row
    redone = run_night(DAY, two_calls, store, relaid)
    assert _statuses(redone) == {"mono-a": "ok", "stereo-b": "skipped"}
    assert store.read("calls", DAY).num_rows == 2


def test_categories_apply_refreshes_incidents_and_the_handoff(two_calls, settings, tmp_path):
    store = Warehouse(settings.warehouse)
    run_night(DAY, two_calls, store, settings)
    handoff = settings.handoff_dir / DAY.isoformat() / "manifest.json"
    written = json.loads(handoff.read_text())["written_at"]
    incidents_before = store.version("incidents", DAY)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "categories:\n  - name: everything\n    label: every call\n    any: [the, a, 的]\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"warehouse: {settings.warehouse}\nkeywords:\n  rules: {rules}\n", encoding="utf-8"
    )
    time.sleep(1.1)  # the hand-off stamps whole seconds
    result = CliRunner().invoke(
        app, ["categories", "apply", "--date", DAY.isoformat(), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["refreshed"] == ["emotion", "index", "incidents", "handoff"]
    categories = {c for r in store.read("calls", DAY).to_pylist() for c in r["categories"] or []}
    assert categories == {"everything"}
    assert store.version("incidents", DAY) != incidents_before
    assert json.loads(handoff.read_text())["written_at"] != written
    issues = store.read("call_issues", DAY).to_pylist()
    assert all(row["incidents_version"] for row in issues)


# two writers of one date ---------------------------------------------------------------------
def _night_cli(config: Path, home: Path, wait_s: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "CALLSCOPE_LOCK__WAIT_S": str(wait_s),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "callscope.cli", "nightly", "--date", DAY.isoformat()]
    return subprocess.Popen(
        [*command, "--config", str(config), "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_nights_of_one_date_never_transcribe_a_call_twice(tmp_path, mono_en):
    recordings, warehouse = tmp_path / "recordings", tmp_path / "warehouse"
    calls = {"only-call.wav": mono_en}  # and three longer calls: the first night lasts a while
    calls |= {path.name: path for path in sorted(CLIPS.glob("*call.flac"))}
    make_day(recordings, DAY.isoformat(), calls)
    config = tmp_path / "config.yaml"
    config.write_text(f"recordings: {recordings}\nwarehouse: {warehouse}\n")
    first = _night_cli(config, tmp_path / "p1", wait_s=0)
    lock = warehouse / "_locks" / f"date={DAY.isoformat()}.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock.exists(), first.communicate()
    refused = _night_cli(config, tmp_path / "p2", wait_s=0)
    waiting = _night_cli(config, tmp_path / "p3", wait_s=600)
    _, refusal = refused.communicate(timeout=300)
    assert refused.returncode == 75, refusal
    [line] = [text for text in refusal.splitlines() if text.startswith("error:")]
    # the holder is named: the first night, or the waiting one if the first ended meanwhile
    assert any(f"(pid {night.pid})" in line for night in (first, waiting)) and "since" in line
    assert "Traceback" not in refusal
    out_first, err_first = first.communicate(timeout=600)
    out_waiting, err_waiting = waiting.communicate(timeout=600)
    assert first.returncode == 0, err_first
    assert waiting.returncode == 0, err_waiting
    assert (json.loads(out_first)["ok"], json.loads(out_waiting)["skipped"]) == (4, 4)
    assert json.loads(out_waiting)["ok"] == 0
    assert Warehouse(warehouse).read("calls", DAY).num_rows == 4
    assert not lock.exists()


# a corrupt partition -------------------------------------------------------------------------
@pytest.fixture
def broken_copy(web_warehouse, tmp_path):
    """The web tests' warehouse, copied, with the launch day's partitions cut short."""
    root = tmp_path / "warehouse"
    shutil.copytree(web_warehouse.settings.warehouse, root)
    launch = web_warehouse.launch.isoformat()
    for table in ("segments", "emotion_daily", "incidents"):
        part = root / table / f"date={launch}" / "part-0.parquet"
        part.write_bytes(part.read_bytes()[:64])
    settings = web_warehouse.settings.model_copy(update={"warehouse": root})
    return settings, web_warehouse


def test_a_corrupt_partition_is_a_one_line_cli_error(broken_copy):
    settings, built = broken_copy
    result = CliRunner().invoke(
        app, ["transcript", built.audio_call, "--warehouse", str(settings.warehouse)]
    )
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the segments table of 2026-11-20")
    assert "Traceback" not in result.output


def test_a_corrupt_partition_is_a_503_naming_the_table(broken_copy):
    from callscope.web.app import create_app

    from tests.test_web_api import SECRET, sign_in

    settings, built = broken_copy
    web = create_app(settings, recordings=built.recordings, secret=SECRET)
    client: TestClient = sign_in(web, "analyst")
    for path, table in [
        (f"/api/calls/{built.audio_call}", "segments"),
        ("/api/trends", "emotion_daily"),
        ("/api/incidents", "incidents"),
    ]:
        response = client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert f"the {table} table of 2026-11-20" in response.json()["error"]
    page = client.get("/incidents")
    assert page.status_code == 503 and "incidents table of 2026-11-20" in page.text


# every apply command is a writer of its day ---------------------------------------------------
APPLY_COMMANDS = [
    ["categories", "apply"],
    ["emotion", "apply"],
    ["redact", "apply"],
    ["index", "update"],
]


@pytest.mark.parametrize("command", APPLY_COMMANDS, ids=lambda c: " ".join(c))
def test_an_apply_meeting_a_held_day_lock_names_the_holder(web_warehouse, command, monkeypatch):
    """Another host is writing the day (its lock file is fresh): the command waits
    `lock.wait_s`, then exits 75 with one line naming that holder, and writes nothing."""
    root = web_warehouse.settings.warehouse
    day = web_warehouse.launch.isoformat()
    lock = root / "_locks" / f"date={day}.lock"
    holder = {
        "host": "gpu-node-7",
        "pid": 4242,
        "purpose": "nightly flow",
        "since": "2026-11-21T01:00:00+00:00",
        "token": "0" * 32,
    }
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps(holder), encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in root.glob("*/date=*/part-0.parquet")}
    monkeypatch.setenv("CALLSCOPE_LOCK__WAIT_S", "0.5")
    started = time.monotonic()
    try:
        result = CliRunner().invoke(app, [*command, "--date", day, "--warehouse", str(root)])
    finally:
        lock.unlink()
    assert result.exit_code == 75, result.output
    [line] = [text for text in result.output.splitlines() if text.startswith("error:")]
    assert "nightly flow on gpu-node-7 (pid 4242) since 2026-11-21T01:00:00+00:00" in line
    assert time.monotonic() - started >= 0.5
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/date=*/part-0.parquet")} == before


# one logger hierarchy --------------------------------------------------------------------------
def test_every_module_logs_below_the_callscope_logger():
    """`-v` and the entry point's handler reach every package: each module logger is a child
    of `callscope`, and no product module makes a logger of its own name."""
    import importlib
    import logging

    found = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            parts = parts if package == "callscope" else ("callscope", *parts)
            name = ".".join(parts).removesuffix(".__init__")
            module = importlib.import_module(name)
            logger = getattr(module, "logger", None)
            if isinstance(logger, logging.Logger):
                found[name] = logger.name
            source = path.read_text(encoding="utf-8")
            own = re.findall(r"logging\.getLogger\((?!ROOT\b|\"faster_whisper\"|name\b)", source)
            assert not own, f"{name} makes a logger outside the callscope hierarchy"
    assert len(found) > 30
    outside = {module: name for module, name in found.items() if not name.startswith("callscope.")}
    assert not outside
