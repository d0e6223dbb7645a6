"""Log lines people and log shippers can read: every line a command logs, its own and Prefect's
run loggers', starts with an ISO date-time with the zone offset and a level; with
`--log-format json` or the config key `logging.format` each is one JSON object."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callscope.cli import app
from tests.conftest import make_day

DAY = "2026-11-20"
TEXT_LINE = re.compile(r"(\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(\S.*?): ")
STRAY = "ignoring date=2026-13-45: not a date=YYYY-MM-DD partition"


def _dated(moment: str) -> dt.datetime:
    """The time of a log line: ISO 8601 with a date and a zone offset."""
    parsed = dt.datetime.fromisoformat(moment)
    assert parsed.tzinfo is not None, moment
    assert abs(parsed - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10), moment
    return parsed


def _text_lines(stderr: str) -> list[re.Match]:
    lines = [line for line in stderr.splitlines() if not line.startswith("error:")]
    matches = [TEXT_LINE.match(line) for line in lines]
    assert lines and all(matches), stderr
    for match in matches:
        _dated(match.group(1))
    return matches


def _json_lines(stderr: str) -> list[dict]:
    entries = [json.loads(line) for line in stderr.splitlines() if not line.startswith("error:")]
    assert entries, stderr
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        _dated(entry["time"])
    return entries


@pytest.fixture
def stray(tmp_path) -> Path:
    """A warehouse with a folder named like no day in it: listing its days logs a warning."""
    warehouse = tmp_path / "warehouse"
    folder = warehouse / "calls" / "date=2026-13-45"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"")
    return warehouse


@pytest.fixture
def json_config(tmp_path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("logging:\n  format: json\n", encoding="utf-8")
    return config


def test_a_command_logs_lines_with_date_time_zone_and_level(stray):
    result = CliRunner().invoke(app, ["calls", "--warehouse", str(stray)])
    assert result.exit_code == 0, result.output
    [match] = _text_lines(result.stderr)
    assert match.group(2, 3) == ("WARNING", "callscope.storage.warehouse")
    assert match.string.endswith(STRAY)


@pytest.mark.parametrize("how", ["option", "config", "environment"])
def test_json_logs_by_option_config_or_environment(stray, json_config, monkeypatch, how):
    args = ["calls", "--warehouse", str(stray)]
    if how == "option":
        args = ["--log-format", "json", *args]
    elif how == "config":
        args += ["--config", str(json_config)]
    else:
        monkeypatch.setenv("CALLSCOPE_LOGGING__FORMAT", "json")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [entry] = _json_lines(result.stderr)
    assert (entry["level"], entry["logger"]) == ("WARNING", "callscope.storage.warehouse")
    assert entry["message"] == STRAY


def test_the_option_wins_over_the_config(stray, json_config):
    args = [
        "--log-format",
        "text",
        "calls",
        "--warehouse",
        str(stray),
        "--config",
        str(json_config),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _text_lines(result.stderr)[0].string.endswith(STRAY)
    refused = CliRunner().invoke(app, ["--log-format", "yaml", "calls"])
    assert refused.exit_code == 2 and "--log-format 'yaml'" in refused.output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_prefect_run_lines_follow_the_format(tmp_path, log_format):
    """A night whose day another process is writing: the flow run starts, logs, and stops on
    the held lock (exit 75), in a process of its own with the night's own Prefect server."""
    recordings, warehouse = tmp_path / "recordings", tmp_path / "warehouse"
    make_day(recordings, DAY, {"a.wav": b"RIFFjunk"})
    lock = warehouse / "_locks" / f"date={DAY}.lock"
    lock.parent.mkdir(parents=True)
    holder = {"host": "gpu-node-7", "pid": 4242, "purpose": "nightly flow", "token": "0" * 32}
    lock.write_text(json.dumps({**holder, "since": "2026-11-21T01:00:00+00:00"}))
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "CALLSCOPE_LOCK__WAIT_S": "0",
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("CALLSCOPE_LOGGING__FORMAT", None)
    command = [sys.executable, "-m", "callscope.cli", "-v", "--log-format", log_format]
    command += ["nightly", "--date", DAY, "--recordings", str(recordings)]
    done = subprocess.run(
        [*command, "--warehouse", str(warehouse)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 75, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "gpu-node-7 (pid 4242)" in error
    if log_format == "text":
        sources = {match.group(3) for match in _text_lines(done.stderr)}
        assert any(source.startswith("flow run ") for source in sources), sources
        return
    entries = _json_lines(done.stderr)
    runs = [entry for entry in entries if entry["logger"] == "prefect.flow_runs"]
    assert runs and all(entry["flow_run"] for entry in runs)
    assert any("Beginning flow run" in entry["message"] for entry in runs)
    failed = [entry for entry in runs if "exception" in entry]  # -v keeps the traceback
    assert failed and "DayLocked" in failed[0]["exception"]


def test_a_json_access_line_carries_the_requests_fields(web_warehouse):
    """The console's access log through the JSON format: method, path, status, duration and
    user as fields of their own, and still no query string."""
    import logging

    from callscope.web.app import create_app
    from fastapi.testclient import TestClient

    from callscope import logs

    logs.setup(log_format="json")
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(logs.LineFormatter().format(record))
    access = logging.getLogger("callscope.web.access")
    access.addHandler(handler)
    try:
        app = create_app(
            web_warehouse.settings, recordings=web_warehouse.recordings, secret=b"s" * 40
        )
        TestClient(app).get("/login?next=/search%3Fq%3D13912345678")
    finally:
        access.removeHandler(handler)
        logs.setup(log_format="text")
    entries = [json.loads(line) for line in lines]
    sign_in = next(entry for entry in entries if entry.get("path") == "/login")
    assert sign_in["method"] == "GET" and sign_in["status"] == 200
    assert sign_in["duration_ms"] >= 0 and "13912345678" not in json.dumps(entries)
