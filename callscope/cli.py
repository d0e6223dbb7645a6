"""`callscope`: the one command line. Every subcommand takes --config and --warehouse."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from callscope import logs
from callscope.core.errors import CallscopeError


class Commands(typer.Typer):
    """A Typer whose commands turn any error callscope raises on purpose into one `error:` line
    and its exit code (core.errors: 1 for a night that ran but failed its job, 2 for bad input
    or settings, 3 for a missing or unreadable warehouse, 75 for a day another process is
    writing)."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(function):
            @functools.wraps(function)
            def run(*call_args, **call_kwargs):
                try:
                    return function(*call_args, **call_kwargs)
                except CallscopeError as exc:
                    _fail(str(exc), exc.exit_code)

            register(run)
            return function

        return decorator


def _commands(**kwargs) -> Commands:
    return Commands(pretty_exceptions_enable=False, **kwargs)


app = _commands(help="Speech analytics for call centres.", no_args_is_help=True)
demo_app = _commands(
    help="Demo data: the bundled day of real recordings, generated days with a launch-day spike.",
    no_args_is_help=True,
)
app.add_typer(demo_app, name="demo")
voiceprint_app = _commands(help="Agent voiceprints for finding the agent in mono calls.")
app.add_typer(voiceprint_app, name="voiceprint")
categories_app = _commands(help="Rule categories: apply, list, try out.", no_args_is_help=True)
app.add_typer(categories_app, name="categories")
index_app = _commands(help="The transcript search index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML config (default: configs/default.yaml)")
]
WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", help="Parquet warehouse: a folder, or a URI (s3://bucket/prefix)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DateOpt = Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD")]


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None, **overrides):
    from callscope.core.config import ConfigError, load_config

    try:
        settings = load_config(config, **overrides)
    except ConfigError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"config file {exc.filename or config} cannot be read: {exc.strerror or exc}")
    logs.use_config_format(settings.logging.format)
    return settings


def _warehouse(settings):
    """The warehouse a read command reads; WarehouseMissing (exit 3) where it is a local
    folder that does not exist, before anything is read or made there."""
    from callscope.core.errors import WarehouseMissing
    from callscope.storage.warehouse import Warehouse

    store = Warehouse.from_settings(settings)
    if store.local and not Path(store.base).is_dir():
        raise WarehouseMissing(store.base)
    return store


def _date(value: str | None, timezone: str) -> dt.date:
    if value is None:
        from callscope.pipeline.night import yesterday

        return yesterday(timezone)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r} is not a date; use YYYY-MM-DD")


LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        help="text: lines with date, time, zone and level; json: one JSON object a line "
        "(default: the config's logging.format)",
    ),
]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_format: LogFormatOpt = None,
) -> None:
    if log_format is not None and log_format not in logs.FORMATS:
        _fail(f"--log-format {log_format!r}: use one of {', '.join(logs.FORMATS)}")
    logs.setup(verbose, log_format)


@app.command()
def nightly(
    date: DateOpt = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="first day of a range, YYYY-MM-DD")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last day of a range")] = None,
    config: ConfigOpt = None,
    recordings: Annotated[Path | None, typer.Option("--recordings", help="recordings root")] = None,
    warehouse: WarehouseOpt = None,
    handoff: Annotated[
        str | None,
        typer.Option("--handoff", help="hand-off folder or URI (default: <warehouse>/handoff)"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="fan the night out over N workers started on this machine (and a Prefect "
            "server, unless PREFECT_API_URL names one)",
        ),
    ] = None,
    fan_out: Annotated[
        bool,
        typer.Option(
            "--fan-out", help="send the calls in parts to the running workers of flow.work_pool"
        ),
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            help="node_exporter textfile the night writes its figures to (in place of "
            "metrics.textfile)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe one day's calls into the warehouse (default: yesterday), or each day of
    --from..--to in order (a backlog, or the demo's days). Exits 1 when a night ran but failed
    its job (every call failed, more than flow.max_failed_share did, or a day step failed);
    a range runs every day and then exits 1 naming the nights that failed."""
    import contextlib

    settings = _settings(config, recordings=recordings, warehouse=warehouse, handoff=handoff)
    days = _night_days(date, date_from, date_to, settings.timezone)
    if workers and fan_out:
        _fail("give --workers N (workers started here) or --fan-out (workers running already)")
    _check_recordings(settings, days)
    cluster = contextlib.nullcontext()
    if fan_out:
        from callscope.flows.local import require_api

        require_api("--fan-out")
    if workers or not (fan_out or os.environ.get("PREFECT_API_URL")):
        from callscope.flows.local import LocalCluster

        # a night in one process gets a guarded API server of its own, not Prefect's
        # temporary one, which a night killed with SIGKILL would leave running
        api_only = not workers
        cluster = LocalCluster(
            workers or 0,
            settings.flow.work_pool,
            api_only=api_only,
            worker_command=worker_command(),
        )
    flow_args = {
        "config": str(config) if config else None,
        "recordings": str(settings.recordings),
        "warehouse": str(settings.warehouse),
        "handoff": str(settings.handoff) if settings.handoff else None,
        "fan_out": fan_out or bool(workers),
        "metrics_file": str(metrics_file.absolute()) if metrics_file else None,
    }
    with cluster:
        summaries, failed = _nights(days, flow_args, as_json)
    if as_json:
        print(
            json.dumps(
                summaries[0] if len(summaries) == 1 else summaries, ensure_ascii=False, indent=2
            )
        )
    if failed:
        _fail(*_failed_nights(failed, len(days)))


def worker_command() -> list[str]:
    """How a night's local cluster (flows/local.py) starts a worker: `callscope worker`
    (cli_workers.py) run by this interpreter, so a worker runs the same callscope as the night,
    logging in the night's format."""
    return [sys.executable, "-m", "callscope.cli", "--log-format", logs.current_format(), "worker"]


def _check_recordings(settings, days: list[dt.date]) -> None:
    """Each night's recordings folder exists: checked before a Prefect server starts or a
    warehouse folder is made, so that a wrong path is one `error:` line (exit 2)."""
    from callscope.storage.recordings import LocalRecordingSource

    source = LocalRecordingSource.from_settings(settings)
    nights = f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
    if not source.root.is_dir():
        _fail(
            f"no recordings folder for {nights}: the recordings root {source.root} does not "
            "exist; pass --recordings ROOT or set recordings in the config (ROOT holds a "
            "folder per day, YYYY-MM-DD)"
        )
    missing = [day for day in days if not source.day_folder(day).is_dir()]
    if not missing:
        return
    which = ", ".join(str(day) for day in missing[:5]) + (", ..." if len(missing) > 5 else "")
    counted = f" ({len(missing)} of {len(days)} nights)" if len(days) > 1 else ""
    _fail(
        f"no recordings folder for {which}{counted}: {source.day_folder(missing[0])} does not "
        "exist (check --recordings or the nightly pull)"
    )


def _nights(days: list[dt.date], flow_args: dict, as_json: bool) -> tuple[list[dict], dict]:
    """Each night in turn: the summaries of those that ran, and the nights that failed (day
    -> (exit code, why)). A night whose day another process holds is passed over in a range;
    any other error that stops a night stops the command."""
    from callscope.core.errors import CallscopeError, DayLocked, NightFailed

    summaries, failed = [], {}
    for day in days:
        try:
            summary = _night(day, flow_args)
        except DayLocked as exc:
            if len(days) == 1:
                _fail(f"the night could not run: {exc}", exc.exit_code)
            typer.secho(f"error: the night of {day} could not run: {exc}", fg="red", err=True)
            failed[day] = (exc.exit_code, str(exc))
            continue
        except CallscopeError as exc:
            _fail(
                f"the night could not run: {exc}" + (f" (night of {day})" if len(days) > 1 else ""),
                exc.exit_code,
            )
        except OSError as exc:
            _fail(
                f"the night of {day} could not run: {exc.filename or ''}: {exc.strerror or exc}; "
                "check that the warehouse folder is writable and has space"
            )
        summaries.append(summary)
        if summary["status"] != "ok":
            failed[day] = (NightFailed.exit_code, "; ".join(summary["reasons"]))
        if not as_json:
            _print_summary(summary)
    return summaries, failed


def _night(day: dt.date, flow_args: dict) -> dict:
    """The nightly flow's summary of `day`, also where the night failed its job (its flow
    run then ends Failed, holding a NightFailed with the summary)."""
    from callscope.core.errors import NightFailed
    from callscope.flows.nightly import nightly as nightly_flow

    state = nightly_flow(date=day.isoformat(), **flow_args, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, NightFailed) and result.summary is not None:
        return result.summary
    if isinstance(result, BaseException):
        raise result
    return result


def _failed_nights(failed: dict, nights: int) -> tuple[str, int]:
    """The closing `error:` line and exit code: 1 when a night failed its job, else 75 (days
    another process was writing: try again later)."""
    code = min(code for code, _ in failed.values())
    if nights == 1:
        [(day, (_, why))] = failed.items()
        return f"the night of {day} failed: {why}", code
    days = ", ".join(str(day) for day in failed)
    return f"{len(failed)} of {nights} nights failed: {days}; see each night's summary", code


def _night_days(date: str | None, date_from: str | None, date_to: str | None, timezone: str):
    if date and (date_from or date_to):
        _fail("give either --date or --from/--to")
    if not (date_from or date_to):
        return [_date(date, timezone)]
    if not (date_from and date_to):
        _fail("--from and --to go together")
    first, last = _date(date_from, timezone), _date(date_to, timezone)
    if first > last:
        _fail("--from is after --to")
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _print_summary(summary: dict) -> None:
    print(
        f"\nnight {summary['date']}: {summary['calls']} calls | ok {summary['ok']} | "
        f"error {summary['error']} | skipped {summary['skipped']} (already done)\n"
        f"audio {summary['audio_hours']:.3f} h | wall {summary['wall_s']:.1f} s | "
        f"{summary['x_real_time']:.1f}x real time"
    )
    if summary.get("parts"):
        from callscope.pipeline.night import part_lines

        print("\n".join(part_lines(summary["parts"])))
    if steps := summary.get("steps"):
        print("steps: " + ", ".join(f"{name} {status}" for name, status in steps.items()))
    if summary.get("tagged_calls") or summary.get("keyword_hits"):
        print(
            f"categories: {summary['tagged_calls']} calls tagged, {summary['keyword_hits']} keyword hits"
        )
    if summary.get("emotion_calls"):
        from callscope.pipeline.night import emotion_line

        keys = ("emotion_calls", "angry_customers", "escalation_risks", "emotion_segments")
        print(emotion_line(*(summary[key] for key in keys)))
    if summary.get("indexed_segments") is not None:
        print(f"search index: {summary['indexed_segments']} segments indexed")
    if summary.get("topics"):
        print(f"incidents: {summary['topics']} topics, {len(summary['spikes'])} unusual")
        for label in summary["spikes"]:
            print(f"  spike: {label}")
    if summary.get("handoff"):
        print(f"hand-off: {summary['handoff']}")
    for error in summary["errors"]:
        print(f"  error {error['call_id']}: {error['error']}")
    if summary["status"] != "ok":
        from callscope.pipeline.night import failed_line

        print(failed_line(summary["date"], summary["reasons"]))


def _day_calls(config: Path | None, warehouse: str | None, date: str | None):
    """(settings, day, calls rows): the given day, else the latest day in the warehouse."""
    settings = _settings(config, warehouse=warehouse)
    from callscope.storage.warehouse import WarehouseError

    store = _warehouse(settings)
    day = _date(date, settings.timezone) if date or not store.days() else store.days()[-1]
    try:
        return settings, day, store.read("calls", day).to_pylist()
    except WarehouseError as exc:
        _fail(str(exc), exc.exit_code)


@app.command()
def calls(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    status: Annotated[str | None, typer.Option(help="only ok or error")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the calls of a day with their status."""
    from callscope.storage.schemas import CALL_STATUSES

    if status is not None and status not in CALL_STATUSES:
        _fail(f"--status {status!r} is not a call status: use {' or '.join(CALL_STATUSES)}")
    settings, day, rows = _day_calls(config, warehouse, date)
    if status:
        rows = [row for row in rows if row["status"] == status]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    if not rows:
        print(f"no calls for {day} in {settings.warehouse}")
        return
    print(
        f"{'call_id':16} {'status':6} {'dur_s':>7} {'ch':>2} {'layout':13} {'lang':4} {'segs':>4} "
        f"{'customer':>8} {'start>end':>11} {'emotion':10} {'risk':4}  error"
    )
    for row in rows:
        print(
            f"{row['call_id']:16} {row['status']:6} {row['duration_s'] or 0:7.1f} "
            f"{row['channels'] or 0:>2} {row['channel_layout'] or '-':13} {row['language'] or '-':4} "
            f"{row['n_segments'] or 0:>4} {_num(row.get('customer_sentiment'), sign=True):>8} "
            f"{_start_end(row):>11} {row.get('customer_emotion') or '-':10} "
            f"{'yes' if row.get('escalation_risk') else '-':4}  {row['error'] or ''}"
        )


def _start_end(row: dict) -> str:
    start, end = row.get("customer_sentiment_start"), row.get("customer_sentiment_end")
    return "-" if start is None else f"{_num(start, sign=True)}>{_num(end, sign=True)}"


@app.command()
def transcript(
    call_id: str,
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one call's transcript with speakers and times."""
    import pyarrow.compute as pc

    settings = _settings(config, warehouse=warehouse)
    store = _warehouse(settings)
    days = [_date(date, settings.timezone)] if date else store.days("segments")
    for day in days:
        table = store.read("segments", day)
        found = table.filter(pc.equal(table["call_id"], call_id))
        if found.num_rows:
            break
    else:
        _fail(f"no transcript for call {call_id!r} in {settings.warehouse}", code=1)
    rows = found.to_pylist()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    for row in rows:
        mark = "*" if row["overlap"] else " "
        feeling = _feeling(row)
        print(
            f"[{row['start_s']:7.2f}-{row['end_s']:7.2f}] {row['speaker']:8}{mark} "
            f"{feeling:16} {row['text']}"
        )
    if any(row["overlap"] for row in rows):
        print("* another speaker talked over part of this segment")


def _feeling(segment: dict) -> str:
    """`-3.2 angry` for a scored segment, blank for IVR and unscored ones."""
    if segment.get("sentiment") is None:
        return ""
    return f"{segment['sentiment']:+.1f} {segment['emotion']}"


METRIC_COLUMNS = [
    "call_id",
    "diarization",
    "n_speakers",
    "role_confidence",
    "talk_time_agent_s",
    "talk_time_customer_s",
    "silence_ratio",
    "non_talk_ratio",
    "overtalk_s",
    "interruptions_agent",
    "interruptions_customer",
    "speech_rate_agent",
    "speech_rate_customer",
    "longest_silence_s",
    "time_to_first_agent_s",
    "ivr_s",
    "hold_s",
    "role_evidence",
]


@app.command()
def metrics(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Conversation metrics of a day's calls: talk time, silence, overtalk, interruptions."""
    settings, day, calls_of_day = _day_calls(config, warehouse, date)
    rows = [
        {key: row[key] for key in METRIC_COLUMNS} for row in calls_of_day if row["status"] == "ok"
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    if not rows:
        print(f"no transcribed calls for {day} in {settings.warehouse}")
        return
    print(
        f"{'call_id':12} {'who':>8} {'spk':>3} {'conf':>4} {'agent_s':>7} {'cust_s':>7} "
        f"{'silence':>7} {'overtalk':>8} {'intr a/c':>8} {'rate a/c':>11} {'max_gap':>7} "
        f"{'1st_agent':>9} {'hold_s':>6}"
    )
    for row in rows:
        print(
            f"{row['call_id']:12} {_who(row['diarization']):>8} {row['n_speakers'] or 0:>3} "
            f"{_num(row['role_confidence'], 2):>4} {_num(row['talk_time_agent_s']):>7} "
            f"{_num(row['talk_time_customer_s']):>7} {_pct(row['silence_ratio']):>7} "
            f"{_num(row['overtalk_s']):>8} "
            f"{row['interruptions_agent'] or 0:>4}/{row['interruptions_customer'] or 0:<3} "
            f"{_num(row['speech_rate_agent'], 0):>5}/{_num(row['speech_rate_customer'], 0):<5} "
            f"{_num(row['longest_silence_s']):>7} {_num(row['time_to_first_agent_s']):>9} "
            f"{_num(row['hold_s']):>6}"
        )
    print("rates: characters per minute for Mandarin, words per minute otherwise")


def _who(method: str | None) -> str:
    return {"channels": "stereo", "off": "off", None: "-"}.get(method, "diarized")


def _num(value, digits: int = 1, sign: bool = False) -> str:
    return "-" if value is None else f"{value:{'+' if sign else ''}.{digits}f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


@voiceprint_app.command("enroll")
def voiceprint_enroll(
    agent: Annotated[str, typer.Option("--agent", help="agent id as in the manifest")],
    recordings: Annotated[list[Path], typer.Argument(help="recordings of this agent")],
    channel: Annotated[
        int | None, typer.Option("--channel", help="the agent's channel of stereo files")
    ] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Save an agent's voiceprint (roles.agent_voiceprints/<agent>.npy) for mono role finding."""
    settings = _settings(config, warehouse=warehouse)
    folder = settings.roles.agent_voiceprints
    if folder is None:
        _fail("set roles.agent_voiceprints (a folder) in the config first")
    from callscope.asr.speakers import enroll_voiceprint
    from callscope.core.errors import CallscopeError

    try:
        path, used_s = enroll_voiceprint(settings, agent, recordings, channel)
    except CallscopeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the voiceprint to {folder}: {exc.strerror or exc}")
    print(f"voiceprint of {agent} from {used_s:.0f} s of speech written to {path}")


@demo_app.command("day")
def demo_day(
    out: Annotated[Path, typer.Option("--out", help="recordings root to write into")] = Path(
        "demo/recordings"
    ),
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the bundled demo day (real Mandarin and English recordings) under OUT."""
    from callscope.synth.demoday import DEMO_DATE, DemoError, build_demo_day

    _settings(config, warehouse=warehouse)
    try:
        folder = build_demo_day(out)
    except DemoError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the demo day to {out}: {exc.strerror or exc}")
    print(f"demo day {DEMO_DATE} written to {folder}")


if __name__ == "__main__":
    # `python -m callscope.cli`: the command modules below register on `callscope.cli` (they
    # import it), so run that module's app, not this copy's
    from callscope.cli import app as registered

    sys.exit(registered())

# registers search, categories, index, trends, emotion, incidents, demo generate, serve, users,
# redact, catalogue
from callscope import (  # noqa: E402, F401
    cli_catalogue,
    cli_demo,
    cli_doctor,
    cli_emotion,
    cli_incidents,
    cli_keywords,
    cli_privacy,
    cli_web,
    cli_workers,
)

cli_demo.register(demo_app)
cli_catalogue.register(app)
cli_web.register(app)
cli_privacy.register(app)
cli_workers.register(app)
cli_doctor.register(app)
