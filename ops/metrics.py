"""Prometheus figures of a night and of a worker's parts: a node_exporter textfile and a
Pushgateway (settings.metrics). The web app's own /metrics live in web/.

Each night (and each part a worker runs) builds a registry of its own, writes it to the
textfile atomically (a temporary file renamed over the old one) and pushes it to the
Pushgateway with POST, which replaces only the families pushed. Neither may fail the work it
describes: a file that cannot be written or a gateway that does not answer is a warning.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import socket
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from callscope.core.config import Settings
from callscope.core.logs import get_logger
from prometheus_client import CollectorRegistry, Gauge

logger = get_logger(__name__)

PUSHGATEWAY_ENV = "PROMETHEUS_PUSHGATEWAY"
PUSH_TIMEOUT_S = 5.0
LAST_SUCCESS = "callscope_night_last_success_timestamp_seconds"
STEP_STATES = ("ran", "skipped", "off", "failed")
# NightSummary.as_dict() and a part's report count calls as ok | error | skipped
CALL_STATES = {"ok": "ok", "error": "failed", "skipped": "skipped"}


def publish_night(summary: dict, settings: Settings, succeeded: bool) -> None:
    """Write the night's figures where settings.metrics says (textfile, Pushgateway)."""
    textfile = settings.metrics.textfile
    last_success = time.time() if succeeded else previous_value(textfile, LAST_SUCCESS)
    registry = night_registry(summary, settings.timezone, succeeded, last_success)
    publish(registry, settings, {"instance": socket.gethostname()}, textfile)


def publish_part(report: dict, settings: Settings) -> None:
    """Write the figures of one part a worker ran (pipeline/parts.py's report): its own
    textfile beside the night's, and a push grouped by host and worker."""
    worker = report.get("worker") or socket.gethostname()
    registry = part_registry(report, worker)
    grouping = {"instance": socket.gethostname(), "worker": worker}
    publish(registry, settings, grouping, worker_textfile(settings.metrics.textfile, worker))


# the figures ------------------------------------------------------------------------------------
def night_registry(
    summary: dict, timezone: str, succeeded: bool, last_success: float | None
) -> CollectorRegistry:
    """The night's figures; the last success is left out when it is not known (a failed night
    without an earlier textfile), so that a POST to the Pushgateway keeps the one it holds."""
    registry = CollectorRegistry()

    def gauge(name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, help_text, labels, registry=registry)

    calls = gauge(
        "callscope_night_calls",
        "Calls of the night by outcome (failed: an error row; skipped: already done)",
        ("status",),
    )
    for key, status in CALL_STATES.items():
        calls.labels(status).set(summary.get(key) or 0)
    gauge("callscope_night_audio_hours", "Hours of audio transcribed").set(
        summary.get("audio_hours") or 0.0
    )
    gauge("callscope_night_wall_seconds", "Wall-clock seconds the night took").set(
        summary.get("wall_s") or 0.0
    )
    gauge(
        "callscope_night_x_real_time_ratio",
        "Seconds of audio transcribed per second of wall clock (x real time)",
    ).set(summary.get("x_real_time") or 0.0)
    _steps(summary, gauge)
    gauge("callscope_night_handoff_written", "1 when the night wrote the marketing hand-off").set(
        1 if summary.get("handoff") else 0
    )
    gauge("callscope_night_succeeded", "1 when the night succeeded, 0 when it failed").set(
        1 if succeeded else 0
    )
    day = day_start(summary.get("date"), timezone)
    if day is not None:
        gauge(
            "callscope_night_day_timestamp_seconds",
            "Start of the day whose calls the night processed (midnight, configured time zone)",
        ).set(day)
    gauge("callscope_night_finished_timestamp_seconds", "When the night ended (Unix time)").set(
        time.time()
    )
    if last_success is not None:
        gauge(LAST_SUCCESS, "When a night last succeeded (Unix time)").set(last_success)
    return registry


def _steps(summary: dict, gauge) -> None:
    """Each day step's status (one series per state, 1 for the step's) and seconds. The
    summary's `steps` maps a step to its status (or to {"status", "seconds"}); its
    `step_seconds`, when there, to the seconds the step ran (none for a step not timed)."""
    status = gauge(
        "callscope_night_step_status",
        "1 for the state of each day step this night (ran, skipped, off, failed), else 0",
        ("step", "status"),
    )
    seconds = gauge(
        "callscope_night_step_seconds", "Seconds each day step ran this night", ("step",)
    )
    timings = summary.get("step_seconds") or {}
    for step, value in (summary.get("steps") or {}).items():
        state = value.get("status") if isinstance(value, dict) else value
        for candidate in dict.fromkeys([*STEP_STATES, state]):
            status.labels(step, candidate).set(1 if candidate == state else 0)
        taken = value.get("seconds") if isinstance(value, dict) else timings.get(step)
        if taken is not None or timings:
            seconds.labels(step).set(taken or 0.0)


def part_registry(report: dict, worker: str) -> CollectorRegistry:
    """The figures of a worker's latest part."""
    registry = CollectorRegistry()
    outcomes = report.get("outcomes") or []
    calls = Gauge(
        "callscope_part_calls",
        "Calls of the worker's latest part by outcome",
        ("worker", "status"),
        registry=registry,
    )
    for key, status in CALL_STATES.items():
        calls.labels(worker, status).set(sum(o.get("status") == key for o in outcomes))
    audio = sum(o.get("audio_s") or 0.0 for o in outcomes if o.get("status") == "ok")
    figures = {
        "callscope_part_audio_seconds": ("Seconds of audio the latest part transcribed", audio),
        "callscope_part_wall_seconds": (
            "Wall-clock seconds the latest part took",
            report.get("wall_s") or 0.0,
        ),
        "callscope_part_finished_timestamp_seconds": (
            "When the worker's latest part ended (Unix time)",
            report.get("finished_at") or time.time(),
        ),
    }
    for name, (help_text, value) in figures.items():
        Gauge(name, help_text, ("worker",), registry=registry).labels(worker).set(value)
    return registry


def day_start(date: str | None, timezone: str) -> float | None:
    if not date:
        return None
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone)).timestamp()


# where they go ----------------------------------------------------------------------------------
def publish(
    registry: CollectorRegistry, settings: Settings, grouping: dict, textfile: Path | None
) -> None:
    if textfile:
        write_textfile(registry, textfile)
    gateway = pushgateway_address(settings)
    if gateway:
        push(registry, gateway, settings.metrics.job, grouping)


def pushgateway_address(settings: Settings) -> str | None:
    return settings.metrics.pushgateway or os.environ.get(PUSHGATEWAY_ENV) or None


def write_textfile(registry: CollectorRegistry, path: Path) -> bool:
    """The registry in node_exporter's text format at `path`, replaced atomically; the
    folder is made when missing. False, with a warning, when it cannot be written."""
    from prometheus_client import write_to_textfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)
    except OSError as exc:
        logger.warning("metrics not written to %s: %s", path, exc.strerror or exc)
        return False
    return True


def push(registry: CollectorRegistry, gateway: str, job: str, grouping: dict) -> bool:
    """POST the registry to the Pushgateway (replacing only the families pushed); False,
    with a warning, when the gateway cannot be reached or refuses it."""
    from prometheus_client import pushadd_to_gateway

    try:
        pushadd_to_gateway(
            gateway, job=job, registry=registry, grouping_key=grouping, timeout=PUSH_TIMEOUT_S
        )
    except (OSError, ValueError, http.client.HTTPException) as exc:
        logger.warning("metrics not pushed to the Pushgateway at %s: %s", gateway, exc)
        return False
    return True


def previous_value(textfile: Path | None, name: str) -> float | None:
    """A sample's value in the textfile written before, when there is one."""
    from prometheus_client.parser import text_string_to_metric_families

    if not textfile:
        return None
    try:
        text = textfile.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return sample.value
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("the earlier metrics in %s are unreadable: %s", textfile, exc)
    return None


def worker_textfile(textfile: Path | None, worker: str) -> Path | None:
    """The worker's own file beside the night's: callscope.prom -> callscope-gpu1-gpu0.prom."""
    if not textfile:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", worker)
    return textfile.with_name(f"{textfile.stem}-{safe}{textfile.suffix or '.prom'}")
