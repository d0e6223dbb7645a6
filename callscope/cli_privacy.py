"""`callscope redact apply`: today's redaction rules on days already stored.

`register(app)` adds the commands; callscope.cli imports this module after its shared options.
"""

from __future__ import annotations

import json

import typer

from asr.errors import CallscopeError
from callscope.cli import ConfigOpt, DateOpt, JsonOpt, WarehouseOpt, _fail, _settings
from callscope.cli_incidents import HandoffOpt
from callscope.cli_keywords import FromOpt, ToOpt, _days, _rules

redact_app = typer.Typer(help="Personal-data redaction of stored days.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(redact_app, name="redact")
    redact_app.command("apply")(redact_apply)


def redact_apply(
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    handoff: HandoffOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Redact stored days again with today's rules (no re-transcription). Days whose redacted
    text changed get their incidents and marketing hand-off rebuilt from it."""
    from callscope.night import handoff_day, incidents_day
    from privacy.daily import reapply_redaction
    from storage.warehouse import Warehouse, WarehouseError

    settings = _settings(config, warehouse=warehouse, handoff=handoff)
    store = Warehouse(settings.warehouse)
    days = _days(settings, date, date_from, date_to, store)
    if len(days) == 1 and not store.read("calls", days[0]).num_rows:
        _fail(f"no calls for {days[0]} in {settings.warehouse}; run the nightly flow first", 1)
    with_incidents = set(store.days("incidents"))
    rules = None
    report = []
    for number, day in enumerate(days, start=1):
        try:
            run = reapply_redaction(store, day)
            rebuilt = bool(run.changed) and day in with_incidents
            if rebuilt:
                rules = rules or _rules(settings)
                incidents_day(store, day, settings, rules)
                handoff_day(store, day, settings)
        except (CallscopeError, WarehouseError) as exc:
            _fail(str(exc))
        row = {
            "date": day.isoformat(),
            "segments": run.segments,
            "changed": run.changed,
            "spans": run.spans,
            "incidents_rebuilt": rebuilt,
        }
        report.append(row)
        if not as_json:
            after = "; incidents and hand-off rebuilt" if rebuilt else ""
            print(
                f"[{number}/{len(days)}] {day}: {run.changed} of {run.segments} segments "
                f"redacted differently now, {run.spans} personal-data spans{after}"
            )
    if as_json:
        print(json.dumps(report, indent=2))
