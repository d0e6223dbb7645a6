"""Prometheus figures: the web app's /metrics (real app over the small test warehouse), the
access log, the night's textfile and push, a worker's part through the real Prefect engine,
and the deploy files (Grafana dashboard, Prometheus scrape config and alert rules)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import yaml
from callscope.ops.metrics import (
    LAST_SUCCESS,
    night_registry,
    part_registry,
    publish_night,
)
from callscope.pipeline.night import NightSummary
from callscope.pipeline.runner import CallOutcome
from callscope.pipeline.steps import StepOutcome
from callscope.web.app import create_app
from callscope.web.metrics import METRICS_TOKEN_ENV, WebMetrics
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_day
from tests.web_support import AUDIO_CALL, PASSWORD, PHONE_TEXT

REPO = Path(__file__).resolve().parent.parent
SECRET = b"prometheus-test-secret-" + b"x" * 32
LOOPBACK = ("127.0.0.1", 41000)
PHONE = re.search(r"\d{11}", PHONE_TEXT).group()
DAY = "2026-11-20"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, from Prometheus text."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def sign_in(client: TestClient, name: str, password: str) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"name": name, "password": password, "csrf": token, "next": ""}
    return client.post("/login", data=form).status_code


@pytest.fixture
def web_app(web_warehouse):
    settings = web_warehouse.settings
    web = settings.web.model_copy(update={"login_attempts": 2})
    settings = settings.model_copy(update={"web": web})
    return create_app(settings, recordings=web_warehouse.recordings, secret=SECRET)


# the web app -----------------------------------------------------------------------------------
def test_metrics_move_with_searches_and_sign_ins_and_hold_no_paths_or_queries(web_app, caplog):
    client = TestClient(web_app, client=LOOPBACK, follow_redirects=False)
    before = samples(client.get("/metrics").text)
    caplog.set_level(logging.INFO, logger="callscope.web.access")

    assert [sign_in(client, "analyst", "wrong password") for _ in range(3)] == [401, 401, 429]
    assert sign_in(client, "supervisor", PASSWORD) == 303
    assert client.get("/api/search", params={"q": "退款"}).status_code == 200
    assert client.get(f"/calls/{AUDIO_CALL}", params={"q": PHONE}).status_code == 200
    assert client.get("/no-such-page", params={"phone": PHONE}).status_code == 404
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = samples(response.text)
    moved = {
        name: value(after, name, **labels) - value(before, name, **labels)
        for name, labels in [
            ("callscope_web_sign_in_failures_total", {}),
            ("callscope_web_sign_in_throttles_total", {"reason": "too_many_attempts"}),
            ("callscope_web_sign_ins_total", {}),
            ("callscope_web_search_duration_seconds_count", {}),
        ]
    }
    assert moved == {
        "callscope_web_sign_in_failures_total": 2,
        "callscope_web_sign_in_throttles_total": 1,
        "callscope_web_sign_ins_total": 1,
        "callscope_web_search_duration_seconds_count": 1,
    }
    request_count = "callscope_web_request_duration_seconds_count"
    by_route = {
        route: value(after, request_count, route=route, method=method, status=status)
        for route, method, status in [
            ("/api/search", "GET", "2xx"),
            ("/calls/{call_id}", "GET", "2xx"),
            ("/login", "POST", "4xx"),
            ("unmatched", "GET", "4xx"),
        ]
    }
    assert by_route == {"/api/search": 1, "/calls/{call_id}": 1, "/login": 3, "unmatched": 1}
    labels = {label for _, pairs in after for pair in pairs for label in pair}
    leaked = [label for label in labels if "?" in label or AUDIO_CALL in label or PHONE in label]
    assert not leaked
    assert any(name == "process_resident_memory_bytes" for name, _ in after)

    lines = [r.getMessage() for r in caplog.records if r.name == "callscope.web.access"]
    assert "GET /api/search 200" in "\n".join(lines)
    search_line = next(line for line in lines if line.startswith("GET /api/search "))
    assert search_line.endswith(" ms supervisor")
    assert not [line for line in lines if "?" in line or PHONE in line or "退款" in line]
    assert any(line.startswith("POST /login 401 ") and line.endswith(" -") for line in lines)


def test_metrics_are_read_from_loopback_or_with_the_bearer_token(
    web_warehouse, monkeypatch, tmp_path
):
    settings, recordings = web_warehouse.settings, web_warehouse.recordings
    app = create_app(settings, recordings=recordings, secret=SECRET)
    assert TestClient(app).get("/metrics").status_code == 403  # not a loopback address
    local = TestClient(app, client=LOOPBACK)
    assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert local.get("/metrics").status_code == 200

    token_file = tmp_path / "metrics-token"  # a Compose secret or a systemd credential
    token_file.write_text("a-long-random-metrics-token\n", encoding="utf-8")
    monkeypatch.setenv(f"{METRICS_TOKEN_ENV}_FILE", str(token_file))
    guarded = create_app(settings, recordings=recordings, secret=SECRET)
    local = TestClient(guarded, client=LOOPBACK)
    assert local.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer another-token"}
    assert local.get("/metrics", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer a-long-random-metrics-token"}
    remote = TestClient(guarded).get("/metrics", headers=right)
    assert remote.status_code == 200 and "callscope_web_request_duration_seconds" in remote.text


def test_the_access_log_can_be_switched_off(web_warehouse, caplog):
    settings = web_warehouse.settings
    quiet = settings.model_copy(
        update={"logging": settings.logging.model_copy(update={"access_log": False})}
    )
    app = create_app(quiet, recordings=web_warehouse.recordings, secret=SECRET)
    caplog.set_level(logging.INFO, logger="callscope.web.access")
    assert TestClient(app).get("/healthz").status_code == 200
    assert not [r for r in caplog.records if r.name == "callscope.web.access"]


# the night -------------------------------------------------------------------------------------
def night(calls: dict[str, int], handoff: bool = True) -> dict:
    """NightSummary.as_dict() of a night with these calls, and the seconds of its steps."""
    outcomes = [
        CallOutcome(f"{status}-{i}", status, audio_s=900.0 if status == "ok" else 0.0)
        for status, count in calls.items()
        for i in range(count)
    ]
    steps = {
        "commit": StepOutcome("commit", "ran", 3, 1.5),
        "emotion": StepOutcome("emotion", "off", reason="switched off in the config"),
        "handoff": StepOutcome(
            "handoff", "ran", SimpleNamespace(folder=Path("handoff")) if handoff else None, 0.5
        ),
    }
    summary = NightSummary(dt.date.fromisoformat(DAY), outcomes, wall_s=90.0, steps=steps)
    seconds = {name: round(outcome.seconds, 3) for name, outcome in steps.items()}
    return summary.as_dict() | {"step_seconds": seconds}


def test_a_night_writes_its_textfile_and_a_failed_night_keeps_the_last_success(settings, tmp_path):
    textfile = tmp_path / "textfile" / "callscope.prom"  # the folder does not exist yet
    settings.metrics.textfile = textfile

    started = time.time()
    publish_night(night({"ok": 4, "error": 1, "skipped": 2}), settings, succeeded=True)
    first = samples(textfile.read_text(encoding="utf-8"))

    midnight = dt.datetime(2026, 11, 20, tzinfo=ZoneInfo(settings.timezone)).timestamp()
    expected = {
        ("callscope_night_calls", "status", "ok"): 4,
        ("callscope_night_calls", "status", "failed"): 1,
        ("callscope_night_calls", "status", "skipped"): 2,
        ("callscope_night_audio_hours", None, None): 1.0,
        ("callscope_night_wall_seconds", None, None): 90.0,
        ("callscope_night_x_real_time_ratio", None, None): 40.0,
        ("callscope_night_handoff_written", None, None): 1,
        ("callscope_night_succeeded", None, None): 1,
        ("callscope_night_day_timestamp_seconds", None, None): midnight,
    }
    for (name, label, label_value), figure in expected.items():
        assert value(first, name, **({label: label_value} if label else {})) == figure, name
    assert value(first, "callscope_night_step_seconds", step="commit") == 1.5
    assert value(first, "callscope_night_step_status", step="commit", status="ran") == 1
    assert value(first, "callscope_night_step_status", step="emotion", status="off") == 1
    assert value(first, "callscope_night_step_status", step="emotion", status="ran") == 0
    succeeded_at = value(first, LAST_SUCCESS)
    assert started <= succeeded_at <= time.time()

    publish_night(night({"error": 3}, handoff=False), settings, succeeded=False)
    second = samples(textfile.read_text(encoding="utf-8"))
    assert value(second, "callscope_night_succeeded") == 0
    assert value(second, "callscope_night_calls", status="failed") == 3
    assert value(second, "callscope_night_handoff_written") == 0
    assert value(second, LAST_SUCCESS) == succeeded_at
    assert [path.name for path in textfile.parent.iterdir()] == ["callscope.prom"]


def test_a_failed_first_night_leaves_the_last_success_out(settings, tmp_path):
    settings.metrics.textfile = tmp_path / "callscope.prom"
    publish_night({"date": DAY, "status": "failed", "reasons": ["x"]}, settings, False)
    found = samples(settings.metrics.textfile.read_text(encoding="utf-8"))
    assert value(found, "callscope_night_succeeded") == 0
    assert not [name for name, _ in found if name == LAST_SUCCESS]


def test_metrics_that_cannot_be_written_or_pushed_warn_and_the_night_goes_on(
    settings, tmp_path, caplog
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the textfile's folder should be", encoding="utf-8")
    settings.metrics.textfile = blocker / "textfile" / "callscope.prom"
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.metrics.pushgateway = f"http://127.0.0.1:{port}"
    caplog.set_level(logging.WARNING, logger="callscope.ops.metrics")

    assert publish_night(night({"ok": 1}), settings, succeeded=True) is None

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        w.startswith(f"metrics not written to {settings.metrics.textfile}") for w in warnings
    )
    assert any(w.startswith("metrics not pushed to the Pushgateway") for w in warnings)


# the Pushgateway -------------------------------------------------------------------------------
class Gateway:
    """A tiny Pushgateway on loopback: keeps every push (method, path, body)."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _keep(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                gateway.pushes.append((self.command, self.path, body.decode()))
                self.send_response(200)
                self.end_headers()

            do_POST = do_PUT = _keep

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    running = Gateway()
    yield running
    running.close()


def test_the_night_is_pushed_with_its_job_and_host(settings, gateway, tmp_path):
    settings.metrics.pushgateway = gateway.url
    settings.metrics.job = "callscope-night"
    publish_night(night({"ok": 2, "error": 1}), settings, succeeded=True)
    publish_night({"date": DAY}, settings, succeeded=False)  # no textfile: nothing known

    (method, path, body), (_, _, failed_body) = gateway.pushes
    assert (method, path) == (
        "POST",
        f"/metrics/job/callscope-night/instance/{socket.gethostname()}",
    )
    pushed = samples(body)
    assert value(pushed, "callscope_night_calls", status="ok") == 2
    assert value(pushed, "callscope_night_succeeded") == 1
    assert value(pushed, LAST_SUCCESS) > 0
    # POST replaces only the families pushed: the gateway keeps its last success
    assert LAST_SUCCESS not in failed_body
    assert value(samples(failed_body), "callscope_night_succeeded") == 0


def test_a_worker_part_writes_its_own_textfile_and_pushes_with_its_name(
    tmp_path, monkeypatch, gateway, mono_en
):
    from callscope.flows.part import transcribe_part
    from prefect.testing.utilities import prefect_test_harness

    recordings, textfile = tmp_path / "recordings", tmp_path / "textfile" / "callscope.prom"
    make_day(recordings, DAY, {"c1.wav": mono_en, "bad.wav": b"RIFFjunk"})
    monkeypatch.setenv("CALLSCOPE_METRICS__TEXTFILE", str(textfile))
    monkeypatch.setenv("PROMETHEUS_PUSHGATEWAY", gateway.url)
    monkeypatch.setenv("CALLSCOPE_WORKER_NAME", "gpu-host-gpu0")

    with prefect_test_harness(server_startup_timeout=120):
        transcribe_part(
            date=DAY,
            part="part-0001",
            call_ids=["c1", "bad"],
            recordings=str(recordings),
            warehouse=str(tmp_path / "warehouse"),
        )

    written = samples((textfile.parent / "callscope-gpu-host-gpu0.prom").read_text("utf-8"))
    worker = {"worker": "gpu-host-gpu0"}
    assert value(written, "callscope_part_calls", status="ok", **worker) == 1
    assert value(written, "callscope_part_calls", status="failed", **worker) == 1
    assert 5.0 < value(written, "callscope_part_audio_seconds", **worker) < 5.2  # en_mono.wav
    assert value(written, "callscope_part_wall_seconds", **worker) > 0
    assert not textfile.exists()  # the night's own file is the night's
    [(method, path, body)] = gateway.pushes
    host = socket.gethostname()
    assert (method, path) == (
        "POST",
        f"/metrics/job/callscope/instance/{host}/worker/gpu-host-gpu0",
    )
    assert samples(body) == written


# the deploy files ------------------------------------------------------------------------------
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def defined_series() -> set[str]:
    """Every series name the code can expose: the web app's, the night's and a part's."""
    registries = [
        WebMetrics().registry,
        night_registry(night({"ok": 1}), "Asia/Shanghai", True, time.time()),
        part_registry({"outcomes": [], "wall_s": 1.0}, "w"),
    ]
    names = set()
    for registry in registries:
        for family in registry.collect():
            names |= {family.name, *(family.name + s for s in SUFFIXES.get(family.type, ()))}
            names |= {sample.name for sample in family.samples}
    return names


def series_in(expr: str) -> set[str]:
    return {name for name in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if "_" in name} - {
        "histogram_quantile",
        "clamp_min",
    }


def dashboard_exprs(panels: list[dict]) -> list[str]:
    found = []
    for panel in panels:
        found += [target["expr"] for target in panel.get("targets", [])]
        found += dashboard_exprs(panel.get("panels", []))
    return found


def test_the_dashboard_and_alerts_name_only_series_the_code_defines():
    defined = defined_series()
    dashboard = json.loads((REPO / "deploy/grafana/callscope.json").read_text(encoding="utf-8"))
    exprs = dashboard_exprs(dashboard["panels"])
    assert len(exprs) >= 15
    for expr in exprs:
        named = series_in(expr)
        assert named and named <= defined, f"{expr}: {sorted(named - defined)}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    required = {
        "callscope_night_calls",
        "callscope_night_audio_hours",
        "callscope_night_x_real_time_ratio",
        "callscope_night_step_seconds",
        LAST_SUCCESS,
        "callscope_web_request_duration_seconds_bucket",
        "callscope_web_sign_in_failures_total",
        "callscope_web_sign_in_throttles_total",
        "callscope_web_search_duration_seconds_bucket",
    }
    assert required <= set().union(*map(series_in, exprs))

    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"callscope-web", "node", "pushgateway"}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert config["rule_files"] == ["alerts.yml"]
    alerts = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text("utf-8"))
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert {"CallscopeNightFailed", "CallscopeNoNightSuccessFor26Hours"} <= {
        rule["alert"] for rule in rules
    }
    for rule in rules:
        named = {name for name in series_in(rule["expr"]) if name.startswith("callscope_")}
        assert named <= defined, f"{rule['alert']}: {sorted(named - defined)}"
