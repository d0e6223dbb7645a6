"""`callscope incidents`: the day's topics and categories against their trailing days."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from callscope.cli import (
    ConfigOpt,
    DateOpt,
    JsonOpt,
    WarehouseOpt,
    _date,
    _fail,
    _settings,
    _warehouse,
    app,
)
from callscope.core.errors import CallscopeError

HandoffOpt = Annotated[
    str | None,
    typer.Option("--handoff", help="hand-off folder or URI (default: <warehouse>/handoff)"),
]


@app.command()
def incidents(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    handoff: HandoffOpt = None,
    spikes: Annotated[
        bool, typer.Option("--spikes", help="only what the hand-off tells: stories, emerging")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="rows in the table")] = 20,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="find the day's incidents again from its stored calls and rewrite its hand-off",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The day's incident topics and rule categories: calls against expected, spikes, examples
    (default: the latest day with incidents)."""
    from callscope.incidents.handoff import handoff_folder
    from callscope.incidents.report import render_table
    from callscope.storage.warehouse import WarehouseError

    settings = _settings(config, warehouse=warehouse, handoff=handoff)
    store = _warehouse(settings)
    day = _day(store, date, rebuild, settings.timezone)
    try:
        if rebuild:
            _rebuild(store, day, settings)
        table = store.read("incidents", day)
    except (CallscopeError, WarehouseError) as exc:
        _fail(str(exc), exc.exit_code)
    if not table.num_rows and day not in store.days("incidents"):
        _fail(
            f"no incidents for {day} in {settings.warehouse}; run the nightly flow for that day "
            f"or `callscope incidents --date {day} --rebuild`",
            1,
        )
    rows = _told(store, day, table, settings)
    rows = [r for r in rows if r.get("section") or not spikes]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    calls = store.read("call_issues", day).num_rows
    print(f"incidents on {day}: {calls} calls with an issue statement")
    print(render_table(rows, limit))
    folder = handoff_folder(settings.handoff_dir, day)
    if folder is not None:
        print(f"hand-off: {folder}")


def _told(store, day, table, settings) -> list[dict]:
    """The day's incidents with the hand-off's sections (incidents/stories.py)."""
    import pyarrow as pa

    from callscope.incidents.handoff import day_calls
    from callscope.incidents.report import HANDOFF_FIELDS, public_rows
    from callscope.incidents.stories import StorySettings, arrange
    from callscope.keywords.rules import load_rules

    rules = load_rules(settings.keywords.rules, settings.keywords.sounds_like)
    rows, _ = arrange(
        table.to_pylist(),
        day_calls(store, day),
        StorySettings.from_settings(settings.incidents),
        settings.timezone,
        rules.aspects,
    )
    keep = [*table.column_names, *HANDOFF_FIELDS]
    return public_rows(pa.Table.from_pylist([{k: r.get(k) for k in keep} for r in rows]))


def _day(store, date: str | None, rebuild: bool, timezone: str):
    if date:
        return _date(date, timezone)
    days = store.days("calls" if rebuild else "incidents")
    if not days:
        _fail(f"no days with incidents in {store.root}; run the nightly flow first", 1)
    return days[-1]


def _rebuild(store, day, settings) -> None:
    from callscope.pipeline.steps import DayRunner

    if not store.exists("calls", day):
        _fail(f"no calls for {day} in {settings.warehouse}; run the nightly flow first", 1)
    DayRunner(store, day, settings).run("incidents", force=True)
