"""`callscope redact apply`: today's redaction rules on days already stored.

`register(app)` adds the commands; callscope.cli imports this module after its shared options.
"""

from __future__ import annotations

import typer

from callscope.cli import (
    ConfigOpt,
    DateOpt,
    JsonOpt,
    WarehouseOpt,
    _commands,
    _settings,
    _warehouse,
)
from callscope.cli_incidents import HandoffOpt
from callscope.cli_keywords import (
    FanOutOpt,
    FromOpt,
    Reapply,
    ToOpt,
    WorkersOpt,
    _days,
    rerun_days,
)

redact_app = _commands(help="Personal-data redaction of stored days.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(redact_app, name="redact")
    redact_app.command("apply")(redact_apply)


def redact_apply(
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    workers: WorkersOpt = None,
    fan_out: FanOutOpt = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    handoff: HandoffOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Redact stored days again with today's rules (no re-transcription). Calls already
    redacted with today's rules are left as they are; days whose redacted text changed get
    their incidents and marketing hand-off rebuilt from it."""
    settings = _settings(config, warehouse=warehouse, handoff=handoff)
    store = _warehouse(settings)
    days = _days(settings, date, date_from, date_to, store)
    how = Reapply(workers, fan_out, config)
    rerun_days(settings, store, days, "redact", _redaction_report, as_json, how)


def _redaction_report(summary: dict) -> tuple[dict, str]:
    extra = {"incidents_rebuilt": "incidents" in summary["refreshed"]}
    line = (
        f"{summary['changed']} of {summary['segments']} segments redacted differently now, "
        f"{summary['spans']} personal-data spans"
    )
    if not summary["calls"]:
        line = f"all {summary['already_current']} calls already redacted with today's rules"
    return extra, line
