"""`callscope catalogue add` and `callscope catalogue list`: the catalogue of names."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from callscope.cli import ConfigOpt, DateOpt, JsonOpt, WarehouseOpt, _commands, _fail, _settings
from callscope.cli_keywords import _optional_date

catalogue_app = _commands(
    help="The catalogue of names: products, plans, campaigns, shops, apps.", no_args_is_help=True
)


def _path(settings):
    path = settings.keywords.catalogue
    if path is None:
        _fail("keywords.catalogue is null in the config: name a catalogue file there")
    return path


@catalogue_app.command("add")
def catalogue_add(
    name: Annotated[str, typer.Argument(help="the canonical spelling, e.g. 星河九号")],
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="another spelling (repeatable)")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="product | plan | campaign | shop | app")
    ] = "product",
    english: Annotated[str | None, typer.Option("--english", help="its English name")] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="first day it is active, YYYY-MM-DD")
    ] = None,
    date_until: Annotated[
        str | None, typer.Option("--until", help="last day it is active, YYYY-MM-DD")
    ] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a name to the catalogue file (or replace the entry of that name); the next night
    uses it."""
    from pydantic import ValidationError

    from callscope.core.catalogue import KINDS, CatalogueName, add_name

    settings = _settings(config, warehouse=warehouse)
    if kind not in KINDS:
        _fail(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    try:
        entry = CatalogueName(
            name=name,
            kind=kind,
            aliases=alias or [],
            english=english,
            until=_optional_date(date_until, "--until"),
            **{"from": _optional_date(date_from, "--from")},
        )
    except ValidationError as exc:
        _fail(f"{name!r}: " + "; ".join(error["msg"] for error in exc.errors()))
    path = _path(settings)
    _, replaced = add_name(path, entry)
    if as_json:
        print(
            json.dumps({"file": str(path), "replaced": replaced, **_row(entry)}, ensure_ascii=False)
        )
    else:
        print(f"{'replaced' if replaced else 'added'} {_line(entry)} in {path}")


@catalogue_app.command("list")
def catalogue_list(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The names of the catalogue; with --date, only those active on that day."""
    from callscope.core.catalogue import load_catalogue

    settings = _settings(config, warehouse=warehouse)
    catalogue = load_catalogue(_path(settings))
    day = _optional_date(date, "--date")
    entries = catalogue.active(day) if day else catalogue.names
    if as_json:
        print(json.dumps([_row(entry) for entry in entries], ensure_ascii=False, indent=2))
        return
    if not entries:
        print("no names" + (f" active on {day}" if day else "") + f" in {_path(settings)}")
    for entry in entries:
        print(_line(entry))


def _row(entry) -> dict:
    return {
        "name": entry.name,
        "kind": entry.kind,
        "aliases": entry.aliases,
        "english": entry.english,
        "from": entry.from_.isoformat() if entry.from_ else None,
        "until": entry.until.isoformat() if entry.until else None,
    }


def _line(entry) -> str:
    also = f" (also {', '.join(entry.aliases)})" if entry.aliases else ""
    english = f" [{entry.english}]" if entry.english else ""
    since = f"from {entry.from_}" if entry.from_ else ""
    until = f"until {entry.until}" if entry.until else ""
    days = " ".join(part for part in (since, until) if part) or "every day"
    return f"{entry.name}{also}{english}: {entry.kind}, {days}"


def register(app: typer.Typer) -> None:
    app.add_typer(catalogue_app, name="catalogue")
