"""`callscope trends` and `callscope emotion score | apply`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from callscope.cli import (
    ConfigOpt,
    DateOpt,
    JsonOpt,
    WarehouseOpt,
    _commands,
    _fail,
    _settings,
    _warehouse,
    app,
)
from callscope.cli_keywords import (
    FanOutOpt,
    FromOpt,
    Reapply,
    ToOpt,
    WorkersOpt,
    _days,
    _optional_date,
    rerun_days,
)
from callscope.core.errors import CallscopeError

emotion_app = _commands(
    help="Emotion: score dialogues, re-score stored days.", no_args_is_help=True
)
app.add_typer(emotion_app, name="emotion")


def _scorer(settings):
    from callscope.emotion.backends import get_text_scorer

    try:
        return get_text_scorer(settings.emotion)
    except CallscopeError as exc:
        _fail(str(exc))


@emotion_app.command("score")
def emotion_score(
    dialogues: Annotated[
        Path, typer.Option("--dialogues", help='JSON lines: {"id", "turns": [{"speaker", "text"}]}')
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="JSON lines out (default: stdout)")
    ] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = True,
) -> None:
    """Score the customer's and the agent's sentiment in text dialogues (no audio).
    The output is JSON lines, one per dialogue, with or without --json."""
    from callscope.emotion.daily import call_settings
    from callscope.emotion.dialogues import DialogueError, read_dialogues, score_dialogues

    settings = _settings(config, warehouse=warehouse)
    scorer = _scorer(settings)
    handle = sys.stdout
    if out is not None:
        try:
            handle = out.open("w", encoding="utf-8")
        except OSError as exc:
            _fail(f"{out}: cannot write ({exc})")
    count = 0
    try:
        for result in score_dialogues(
            read_dialogues(dialogues), scorer, call_settings(settings.emotion)
        ):
            handle.write(json.dumps(result, ensure_ascii=False) + "\n")
            count += 1
    except DialogueError as exc:
        _fail(str(exc))
    finally:
        if out is not None:
            handle.close()
    if out is not None:
        typer.echo(f"{count} dialogues scored -> {out}", err=True)


@emotion_app.command("apply")
def emotion_apply(
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    workers: WorkersOpt = None,
    fan_out: FanOutOpt = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-score stored days with the current emotion settings (text and summaries; the voice
    arousal scored from the audio during the night is kept) and refresh the index."""
    settings = _settings(config, warehouse=warehouse)
    _scorer(settings)
    store = _warehouse(settings)
    days = _days(settings, date, date_from, date_to, store)

    def report(summary: dict) -> tuple[dict, str]:
        line = (
            f"{summary['segments']} segments of {summary['calls']} calls scored, "
            f"{summary['angry_customers']} angry customers, "
            f"{summary['escalation_risks']} escalation risks"
        )
        return {}, line

    how = Reapply(workers, fan_out, config)
    rerun_days(settings, store, days, "emotion", report, as_json, how)


@app.command()
def trends(
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    by: Annotated[str, typer.Option("--by", help="all | queue | agent | category")] = "all",
    role: Annotated[str, typer.Option("--role", help="customer | agent")] = "customer",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write a chart: FILE.png, .svg or .html")
    ] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Customer (or agent) emotion by day, overall or by queue, agent or category."""
    from callscope.emotion.trends import BY, ROLES, TrendsError, draw, load_trends, render_table
    from callscope.storage.warehouse import WarehouseError

    if by not in BY:
        _fail(f"--by {by!r} is not one of {', '.join(BY)}")
    if role not in ROLES:
        _fail(f"--role {role!r} is not one of {', '.join(ROLES)}")
    settings = _settings(config, warehouse=warehouse)
    store = _warehouse(settings)
    days = store.days("emotion_daily")
    if not days:
        _fail(f"no emotion data in {settings.warehouse}; run the nightly flow first", 1)
    start = _optional_date(date_from, "--from") or days[0]
    end = _optional_date(date_to, "--to") or days[-1]
    if start > end:
        _fail(f"--from {start} is after --to {end}")
    try:
        rows = load_trends(store, start, end, by, role)
    except WarehouseError as exc:
        _fail(str(exc), exc.exit_code)
    if not rows:
        _fail(f"no emotion data from {start} to {end} in {settings.warehouse}", 1)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(f"{role} emotion {start} .. {end}, by {by}\n")
        print(render_table(rows, role))
    if plot is not None:
        title = f"{role.capitalize()} emotion by {by if by != 'all' else 'day'}, {start} .. {end}"
        try:
            draw(rows, plot, title)
        except TrendsError as exc:
            _fail(str(exc))
        typer.echo(f"chart -> {plot}", err=True)
