"""`callscope demo generate`: several days of synthetic calls with known ground truth.

`register(demo_app)` adds the command to the `demo` group. It takes no names from
callscope.cli, so it can be registered from anywhere in that module.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML config (default: configs/default.yaml)")
]
WarehouseOpt = Annotated[
    str | None,
    typer.Option("--warehouse", help="Parquet warehouse: a folder, or a URI (s3://bucket/prefix)"),
]


def _fail(message: str, code: int = 2):
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def register(demo_app: typer.Typer) -> None:
    demo_app.command("generate")(demo_generate)


def demo_generate(
    out: Annotated[Path, typer.Option("--out", help="recordings root to write the days into")],
    days: Annotated[int, typer.Option("--days", help="how many days; the last is launch day")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="same seed, same calls")] = 7,
    start: Annotated[
        str | None, typer.Option("--start", help="first day YYYY-MM-DD (default: ends 2026-11-20)")
    ] = None,
    calls_per_day: Annotated[
        int, typer.Option("--calls-per-day", help="normal calls on an average weekday")
    ] = 10,
    launch_calls: Annotated[
        int, typer.Option("--launch-calls", help="planted pre-order failures on launch day")
    ] = 20,
    text_only: Annotated[
        bool, typer.Option("--text-only", help="no audio: truth.json and manifest.csv only")
    ] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Generate demo days of Mandarin (and some English) calls with planted topics: normal
    traffic, then a launch day with a spike of failed online pre-orders. Writes
    OUT/<date>/ with recordings, manifest.csv and truth.json (the ground truth).
    Audio needs the text-to-speech extra: `make tts`."""
    from callscope.core.errors import CallscopeError
    from callscope.synth.generate import default_start, generate

    _check_config(config, warehouse)
    if days < 1:
        _fail(f"--days must be at least 1, not {days}")
    if calls_per_day < 0 or launch_calls < 0:
        _fail("--calls-per-day and --launch-calls must not be negative")
    first = _start(start) if start else default_start(days)
    try:
        folders = generate(out, first, days, seed, calls_per_day, launch_calls, text_only)
    except (CallscopeError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the demo days to {out}: {exc.strerror or exc}")
    for folder in folders:
        print(_summary(folder))
    kind = "text only" if text_only else "recordings"
    print(f"{len(folders)} days ({kind}) written to {out}; ground truth in <day>/truth.json")


def _check_config(config: Path | None, warehouse: str | None) -> None:
    from callscope.core.config import ConfigError, load_config

    try:
        load_config(config, warehouse=warehouse)
    except ConfigError as exc:
        _fail(str(exc))


def _start(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--start {value!r} is not a date; use YYYY-MM-DD")


def _summary(folder: Path) -> str:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    calls = len(truth["calls"])
    files = sum(1 for call in truth["calls"] if call.get("file"))
    planted = ", ".join(f"{topic} +{n}" for topic, n in truth["planted"].items())
    audio = "" if truth["text_only"] else f", {files} recordings"
    return f"{truth['date']}: {calls} calls{audio}; planted: {planted or 'none'}"
