"""`callscope`: the one command line. Every subcommand takes --config and --warehouse."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from callscope import logs

app = typer.Typer(
    help="Speech analytics for call centres.", no_args_is_help=True, pretty_exceptions_enable=False
)
demo_app = typer.Typer(help="The bundled demo day.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML config (default: configs/default.yaml)")
]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Parquet warehouse folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DateOpt = Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD")]


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _settings(config: Path | None, **overrides):
    from callscope.config import ConfigError, load_config

    try:
        return load_config(config, **overrides)
    except ConfigError as exc:
        _fail(str(exc))


def _date(value: str | None, timezone: str) -> dt.date:
    if value is None:
        from callscope.night import yesterday

        return yesterday(timezone)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r} is not a date; use YYYY-MM-DD")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logs.setup(verbose)


@app.command()
def nightly(
    date: DateOpt = None,
    config: ConfigOpt = None,
    recordings: Annotated[Path | None, typer.Option("--recordings", help="recordings root")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transcribe one day's calls into the warehouse (default: yesterday)."""
    from asr.errors import CallscopeError

    settings = _settings(config, recordings=recordings, warehouse=warehouse)
    day = _date(date, settings.timezone)
    from flows.nightly import nightly as nightly_flow

    try:
        summary = nightly_flow(
            date=day.isoformat(),
            config=str(config) if config else None,
            recordings=str(settings.recordings),
            warehouse=str(settings.warehouse),
        )
    except CallscopeError as exc:
        _fail(f"the night could not run: {exc}")
    except OSError as exc:
        _fail(
            f"the night could not run: {exc.filename or ''}: {exc.strerror or exc}; "
            "check that the warehouse folder is writable and has space"
        )
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    print(
        f"\nnight {summary['date']}: {summary['calls']} calls | ok {summary['ok']} | "
        f"error {summary['error']} | skipped {summary['skipped']} (already done)\n"
        f"audio {summary['audio_hours']:.3f} h | wall {summary['wall_s']:.1f} s | "
        f"{summary['x_real_time']:.1f}x real time"
    )
    for error in summary["errors"]:
        print(f"  error {error['call_id']}: {error['error']}")


@app.command()
def calls(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    status: Annotated[str | None, typer.Option(help="only ok or error")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the calls of a day with their status."""
    settings = _settings(config, warehouse=warehouse)
    from storage.warehouse import Warehouse

    store = Warehouse(settings.warehouse)
    day = _date(date, settings.timezone) if date or not store.days() else store.days()[-1]
    rows = store.read("calls", day).to_pylist()
    if status:
        rows = [row for row in rows if row["status"] == status]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=2))
        return
    if not rows:
        print(f"no calls for {day} in {settings.warehouse}")
        return
    print(
        f"{'call_id':16} {'status':6} {'dur_s':>7} {'ch':>2} {'layout':13} {'lang':4} {'segs':>4}  error"
    )
    for row in rows:
        print(
            f"{row['call_id']:16} {row['status']:6} {row['duration_s'] or 0:7.1f} "
            f"{row['channels'] or 0:>2} {row['channel_layout'] or '-':13} {row['language'] or '-':4} "
            f"{row['n_segments'] or 0:>4}  {row['error'] or ''}"
        )


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
    from storage.warehouse import Warehouse

    store = Warehouse(settings.warehouse)
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
        print(f"[{row['start_s']:7.2f}-{row['end_s']:7.2f}] {row['speaker']:8} {row['text']}")


@demo_app.command("day")
def demo_day(
    out: Annotated[Path, typer.Option("--out", help="recordings root to write into")] = Path(
        "demo/recordings"
    ),
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the bundled demo day (real Mandarin and English recordings) under OUT."""
    from callscope.demo import DEMO_DATE, DemoError, build_demo_day

    _settings(config, warehouse=warehouse)
    try:
        folder = build_demo_day(out)
    except DemoError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the demo day to {out}: {exc.strerror or exc}")
    print(f"demo day {DEMO_DATE} written to {folder}")


if __name__ == "__main__":
    sys.exit(app())
