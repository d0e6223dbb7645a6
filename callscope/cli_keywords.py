"""`callscope search`, `callscope categories ...` and `callscope index ...`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from callscope.cli import (
    ConfigOpt,
    DateOpt,
    JsonOpt,
    WarehouseOpt,
    _date,
    _day_calls,
    _fail,
    _settings,
    _warehouse,
    app,
    categories_app,
    index_app,
)
from callscope.core.errors import CallscopeError

FromOpt = Annotated[str | None, typer.Option("--from", help="first date, YYYY-MM-DD")]
ToOpt = Annotated[str | None, typer.Option("--to", help="last date, YYYY-MM-DD")]


def _optional_date(value: str | None, flag: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{flag} {value!r} is not a date; use YYYY-MM-DD")


def _open_index(settings, create: bool = False):
    from callscope.keywords.index import SearchIndexError, open_index

    try:
        return open_index(settings, create=create)
    except SearchIndexError as exc:
        _fail(str(exc))


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(help='e.g. 退款, "how can i help", 销户 NOT 已解决, ~首发 (sounds like)'),
    ],
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    speaker: Annotated[
        list[str] | None, typer.Option("--speaker", help="agent | customer | ivr | unknown")
    ] = None,
    agent: Annotated[list[str] | None, typer.Option("--agent", help="agent id")] = None,
    queue: Annotated[list[str] | None, typer.Option("--queue", help="queue / skill group")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="rule category")] = None,
    sentiment_min: Annotated[float | None, typer.Option(help="segments scored at least")] = None,
    sentiment_max: Annotated[float | None, typer.Option(help="segments scored at most")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    sort: Annotated[str, typer.Option(help="relevance | newest | oldest")] = "relevance",
    redacted: Annotated[
        bool,
        typer.Option(
            "--redacted",
            help="as roles without access to personal data see it: phone, ID and card numbers, "
            "email and addresses replaced in hits and never matched or counted",
        ),
    ] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find where something was said: ranked segments with the match highlighted."""
    from callscope.keywords.daily import stale_days
    from callscope.keywords.index import SORTS, SearchFilters, SearchIndexError
    from callscope.keywords.query import QueryError

    settings = _settings(config, warehouse=warehouse)
    if sort not in SORTS:
        _fail(f"--sort must be one of {', '.join(SORTS)}")
    _check_speakers(speaker or [])
    filters = SearchFilters(
        date_from=_optional_date(date_from, "--from"),
        date_to=_optional_date(date_to, "--to"),
        agents=agent or [],
        queues=queue or [],
        speakers=speaker or [],
        categories=category or [],
        sentiment_min=sentiment_min,
        sentiment_max=sentiment_max,
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        _fail("--from is after --to")
    store = _warehouse(settings)
    index = _open_index(settings)
    try:
        result = index.search(
            query,
            filters,
            limit=limit,
            offset=(page - 1) * limit,
            sort=sort,
            rank_window=settings.search.rank_window,
            context=settings.search.context_segments,
            redacted=redacted,
        )
        stale = stale_days(store, index)
    except (QueryError, SearchIndexError) as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_hits(result, page)
    if stale:
        typer.secho(
            f"note: {len(stale)} day(s) changed since they were indexed ({stale[0]}...); "
            "run `callscope index update`",
            fg="yellow",
            err=True,
        )


def _check_speakers(speakers: list[str]) -> None:
    from callscope.storage.schemas import SPEAKERS

    bad = sorted(set(speakers) - set(SPEAKERS))
    if bad:
        _fail(f"--speaker {bad[0]!r}: use one of {', '.join(SPEAKERS)}")


def _print_hits(result, page: int) -> None:
    color = sys.stdout.isatty()
    for warning in getattr(result, "warnings", []):  # shards a host could not answer for
        print(f"warning: {warning}")
    if not result.total:
        print(f"no matches for {result.query!r}")
        return
    first = result.offset + 1
    last = result.offset + len(result.hits)
    ranked = (
        f", ranked among the newest {result.ranked_among}"
        if result.ranked_among < result.total or result.total_is_lower_bound
        else ""
    )
    total = f"{result.total}+" if result.total_is_lower_bound else str(result.total)
    print(f"{total} matches for {result.query!r}{ranked}; {first}-{last} (page {page})")
    for n, hit in enumerate(result.hits, start=first):
        cats = f"  [{', '.join(hit.categories)}]" if hit.categories else ""
        print(
            f"\n{n:>3}. {hit.date} {hit.call_id}  agent {hit.agent_id or '-'}  "
            f"queue {hit.queue or '-'}  @{_clock(hit.hit_s)} ({hit.start_s:.1f}-{hit.end_s:.1f} s){cats}"
        )
        for line in hit.before:
            print(f"       {line['speaker'] or '?':8} {_short(line['text'])}")
        print(f"     > {hit.speaker or '?':8} {_marked(hit.text, hit.highlights, color)}")
        for line in hit.after:
            print(f"       {line['speaker'] or '?':8} {_short(line['text'])}")
    if last < result.total or result.total_is_lower_bound:
        print(f"\nmore: --page {page + 1}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _marked(text: str, spans: list, color: bool) -> str:
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        word = text[start:end]
        out.append(typer.style(word, fg="red", bold=True) if color else f"【{word}】")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _rules(settings):
    from callscope.keywords.rules import RuleError, load_rules

    try:
        return load_rules(settings.keywords.rules, settings.keywords.sounds_like)
    except RuleError as exc:
        _fail(str(exc))


def _days(settings, date, date_from, date_to, store) -> list[dt.date]:
    if date and (date_from or date_to):
        _fail("give --date or --from / --to, not both")
    if date:
        return [_date(date, settings.timezone)]
    start, end = _optional_date(date_from, "--from"), _optional_date(date_to, "--to")
    if not (start or end):
        _fail("say which days: --date D, or --from D [--to D]")
    days = [day for day in store.days() if (not start or day >= start) and (not end or day <= end)]
    if not days:
        _fail(f"no days with calls from {start or '...'} to {end or '...'} in {store.root}", 1)
    return days


WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="days re-applied at once, in local processes"),
]
FanOutOpt = Annotated[
    bool,
    typer.Option(
        "--fan-out",
        help="re-apply the days on the running workers of flow.work_pool (needs PREFECT_API_URL)",
    ),
]


@categories_app.command("apply")
def categories_apply(
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    workers: WorkersOpt = None,
    fan_out: FanOutOpt = False,
    whole_rule_set: Annotated[
        bool,
        typer.Option(
            "--whole-rule-set",
            help="re-tag every category of every call not tagged with these rules, not only "
            "the categories added or edited (for comparisons; the stored result is the same)",
        ),
    ] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-apply the rule file to stored days (no re-transcription): only the categories added
    or edited since a day was tagged are redone; each day's emotion, search rows, incidents
    and hand-off are refreshed after it."""
    settings = _settings(config, warehouse=warehouse)
    _rules(settings)
    store = _warehouse(settings)
    days = _days(settings, date, date_from, date_to, store)
    how = Reapply(workers, fan_out, config, whole_rule_set)
    rerun_days(settings, store, days, "categories", lambda s: ({}, _applied_line(s)), as_json, how)


def _applied_line(summary: dict) -> str:
    line = f"{summary['tagged']} of {summary['calls']} calls tagged, {summary['hits']} hits"
    if not summary["tagged_now"]:
        line += " (all already tagged with these rules)"
    elif summary["redone"] is None:
        line += f"; {summary['tagged_now']} calls re-tagged for every category"
    else:
        redone = ", ".join(summary["redone"]) or "none (categories removed or moved)"
        line += f"; {summary['tagged_now']} calls re-tagged for {redone}"
    return line


@dataclass(frozen=True)
class Reapply:
    """How an apply command runs its days: `workers` local processes, or `fan_out` to the work
    pool's workers (which load `config`)."""

    workers: int | None = None
    fan_out: bool = False
    config: Path | None = None
    whole_rule_set: bool = False


def rerun_days(
    settings, store, days: list[dt.date], start: str, report, as_json: bool, how=Reapply()
) -> None:
    """Run step `start` again on stored days, then every step after it (pipeline/backfill.py);
    `report(summary) -> (extra row fields, line)` describes what the step did on a day."""
    from callscope.pipeline.backfill import ReapplyFailed, calls_per_second, reapply_range

    if how.workers and how.fan_out:
        _fail("give --workers N (processes here) or --fan-out (workers running already)")
    missing = [day for day in days if not store.exists("calls", day)]
    if missing:
        _fail(f"no calls for {missing[0]} in {settings.warehouse}; run the nightly flow first", 1)
    rows = []

    def progress(day: dt.date, summary: dict) -> None:
        extra, line = _reported(summary, start, report)
        rate = calls_per_second(summary)
        rows.append({"date": day.isoformat(), **summary, **extra, "calls_per_s": rate})
        if not as_json:
            if summary["refreshed"]:
                line += f"; refreshed {', '.join(summary['refreshed'])}"
            speed = f" ({rate:,.0f} calls/s)" if rate is not None else ""
            print(f"[{len(rows)}/{len(days)}] {day}: {line}{speed}", flush=True)

    try:
        spread = _work_pool(settings, how.config) if how.fan_out else None
        reapply_range(settings, days, start, how.workers or 1, spread, progress, how.whole_rule_set)
    except ReapplyFailed as exc:
        if as_json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        _fail(str(exc), exc.exit_code)
    except CallscopeError as exc:
        _fail(str(exc), exc.exit_code)
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))


def _reported(summary: dict, start: str, report) -> tuple[dict, str]:
    if summary["status"] == "off":
        return {}, f"{start} is switched off in the config; nothing re-applied"
    return report(summary)


def _work_pool(settings, config: Path | None):
    """The days' runner on flow.work_pool: its workers load the settings from the same files."""
    import os

    from callscope.core.config import CONFIG_ENV
    from callscope.flows.backfill import WorkPoolDays
    from callscope.flows.local import require_api

    require_api("--fan-out")
    config = config or os.environ.get(CONFIG_ENV)
    paths = {
        "config": str(Path(config).absolute()) if config else None,
        "warehouse": str(settings.warehouse),
        "handoff": str(settings.handoff) if settings.handoff else None,
    }
    return WorkPoolDays(settings, paths, log=lambda line: typer.echo(line, err=True))


@categories_app.command("list")
def categories_list(
    date: DateOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The rule categories, with how many calls of a day each tagged (latest day by default)."""
    from collections import Counter

    settings, day, calls = _day_calls(config, warehouse, date)
    rules = _rules(settings)
    counts = Counter(name for row in calls for name in row.get("categories") or [])
    classes = Counter(row.get("complaint_class") for row in calls if row["status"] == "ok")
    rows = [
        {
            "name": c.name,
            "label": c.label,
            "complaint_class": c.complaint_class,
            "rules": len(c.rules),
            "calls": counts.get(c.name, 0),
        }
        for c in rules.categories
    ]
    if as_json:
        print(
            json.dumps(
                {
                    "date": day and day.isoformat(),
                    "rules_version": rules.version_hash,
                    "categories": rows,
                    "complaint_classes": dict(classes),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    print(f"rules {settings.keywords.rules} (version {rules.version_hash}); calls of {day or '-'}")
    print(f"{'category':22} {'class':9} {'calls':>5}  label")
    for row in rows:
        print(
            f"{row['name']:22} {row['complaint_class'] or '-':9} {row['calls']:>5}  {row['label']}"
        )
    if classes:
        print(
            "complaint classes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=str))
        )


@categories_app.command("test")
def categories_test(
    text: Annotated[str, typer.Argument(help="a sentence to try the rules on")],
    speaker: Annotated[str, typer.Option(help="agent | customer")] = "customer",
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which categories a sentence would get, and which phrases fired (for rule writers)."""
    from callscope.keywords.categorize import categorize_call

    _check_speakers([speaker])
    settings = _settings(config, warehouse=warehouse)
    rules = _rules(settings)
    seg = {
        "idx": 0,
        "start_s": 0.0,
        "end_s": max(1.0, len(text) / 4),
        "speaker": speaker,
        "text": text,
    }
    result = categorize_call([seg], rules)
    hits = [
        {
            "category": h.category,
            "kind": h.kind,
            "term": h.term,
            "matched": text[h.start : h.end],
            "match": h.match,
        }
        for h in result.hits
    ]
    if as_json:
        print(
            json.dumps(
                {
                    "categories": result.categories,
                    "complaint_class": result.complaint_class,
                    "hits": hits,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    print(
        f"categories: {', '.join(result.categories) or '(none)'}; complaint class: "
        f"{result.complaint_class}"
    )
    for hit in hits:
        how = "  (sounds like)" if hit["match"] == "sounds_like" else ""
        print(f"  {hit['category']:22} {hit['kind']:5} {hit['matched']!r}  <- {hit['term']}{how}")


@categories_app.command("try")
def categories_try(
    name: Annotated[
        str | None, typer.Argument(help="a category of the rule file (as edited, not applied)")
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option(
            "--rule",
            help="a category or rule in YAML / JSON instead, e.g. "
            "'{any: [预约, 首发], speaker: customer}'",
        ),
    ] = None,
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many calls a category would tag on each stored day, without writing anything
    (beside how many the stored tags hold now): for editing a rule before applying it."""
    from callscope.keywords.backfill import try_rules

    settings = _settings(config, warehouse=warehouse)
    tried = _tried_rules(settings, name, rule)
    store = _warehouse(settings)
    days = _days(settings, date, date_from, date_to, store)
    category = tried.categories[0].name
    found = try_rules(store, days, tried)
    rows = []
    for day, result in found.items():
        calls = store.read("calls", day, columns=["categories"])["categories"].to_pylist()
        now = sum(category in (tags or []) for tags in calls)
        rows.append({"date": day.isoformat(), **result, "tagged_now": now})
    if as_json:
        print(json.dumps({"category": category, "days": rows}, ensure_ascii=False, indent=2))
        return
    print(tried.categories[0].describe())
    print(f"{'date':10} {'calls':>7} {'would tag':>9} {'share':>6} {'tagged now':>10}")
    for row in rows:
        would = row["categories"][category]
        share = would / row["calls"] if row["calls"] else 0.0
        print(
            f"{row['date']:10} {row['calls']:>7} {would:>9} {share:>6.1%} {row['tagged_now']:>10}"
        )


def _tried_rules(settings, name: str | None, rule: str | None):
    """A rule set of the one category tried: from the rule file by name, or --rule."""
    import yaml

    from callscope.keywords.rules import RuleError, RuleSet

    if (name is None) == (rule is None):
        _fail("give a category of the rule file, or --rule '<YAML>'")
    if name is not None:
        rules = _rules(settings)
        if name not in rules.category_versions:
            _fail(f"no category {name!r} in {settings.keywords.rules}")
        return rules.only({name})
    try:
        data = yaml.safe_load(rule)
    except yaml.YAMLError as exc:
        _fail(f"--rule is not YAML: {exc}")
    if not isinstance(data, dict):
        _fail("--rule must be a mapping: a category (name, rules) or one rule (any, near, ...)")
    data = {"name": "tried", **data}
    try:
        return RuleSet(categories=[data]).with_sounds(settings.keywords.sounds_like)
    except (ValueError, RuleError) as exc:
        _fail(f"--rule is not a valid category: {exc}")


@index_app.command("update")
def index_update(
    date: DateOpt = None,
    all_days: Annotated[bool, typer.Option("--all", help="every day in the warehouse")] = False,
    rebuild: Annotated[bool, typer.Option(help="re-index even unchanged days")] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Index days whose calls changed (the nightly flow does this for its own day)."""
    from callscope.keywords.daily import stale_days, update_index

    settings = _settings(config, warehouse=warehouse)
    store = _warehouse(settings)
    index = _open_index(settings, create=True)
    if date:
        days = [_date(date, settings.timezone)]
    elif all_days or rebuild:
        days = store.days() + [d for d in index.indexed_days() if d not in store.days()]
    else:
        days = stale_days(store, index) + [d for d in index.indexed_days() if d not in store.days()]
    total = 0
    for n, day in enumerate(days, start=1):
        try:
            with store.lock_day(day, "index update"):
                count = update_index(store, index, day, force=rebuild)
        except CallscopeError as exc:
            _fail(str(exc), exc.exit_code)
        total += count or 0
        state = "unchanged" if count is None else f"{count} segments"
        print(f"[{n}/{len(days)}] {day}: {state}")
    print(f"index {settings.search_index}: {total} segments written, {len(days)} day(s) checked")
    index.close()


@index_app.command("status")
def index_status(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Indexed days, their segment counts, the shards, and days waiting to be indexed."""
    from callscope.keywords.daily import stale_days

    settings = _settings(config, warehouse=warehouse)
    store = _warehouse(settings)
    index = _open_index(settings)
    days = index.indexed_days()
    stale = stale_days(store, index)
    outdated = set(index.outdated_keys())
    shards = {
        key: {
            "file": path.name,
            "bytes": sum(p.stat().st_size for p in index.shard(key).files()),
            "current": key not in outdated,
        }
        for key, path in index.shard_files().items()
    }
    size = sum(shard["bytes"] for shard in shards.values())
    if as_json:
        print(
            json.dumps(
                {
                    "index": str(index.path),
                    "engine": index.engine,
                    "period": index.period,
                    "bytes": size,
                    "shards": shards,
                    "remote_shards": index.remote,
                    "days": {d.isoformat(): n for d, n in days.items()},
                    "stale": [d.isoformat() for d in stale],
                },
                indent=2,
            )
        )
        return
    print(
        f"{index.path}: {sum(days.values())} segments over {len(days)} day(s), {size / 1e6:.1f} MB "
        f"in {len(shards)} {index.period} shard(s) ({index.engine})"
    )
    for key, shard in shards.items():
        state = "" if shard["current"] else "  (another version: the next update rebuilds it)"
        print(f"  shard {key}  {shard['file']:24} {shard['bytes'] / 1e6:8.1f} MB{state}")
    for key, url in index.remote.items():
        print(f"  shard {key}  served by {url}")
    for day, count in days.items():
        print(
            f"  {day}  {count:>8} segments{'  (changed since: run index update)' if day in stale else ''}"
        )
    for day in stale:
        if day not in days:
            print(f"  {day}  not indexed yet: run `callscope index update`")


@index_app.command("serve")
def index_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8790,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Serve this machine's index shards to searches on other machines (search.remote_shards
    there); every request must carry $CALLSCOPE_SHARD_TOKEN (or the file's contents that
    $CALLSCOPE_SHARD_TOKEN_FILE names) when it is set. At most
    search.shard_host_connections at once (more are answered 503); a connection that stalls
    search.shard_host_timeout_s is dropped."""
    from callscope.keywords.remote import serve, token_from_env

    settings = _settings(config, warehouse=warehouse)
    try:
        serve(
            Path(settings.search_index),
            host,
            port,
            token_from_env(),
            ready=lambda bound: print(
                f"serving shards of {settings.search_index} on {host}:{bound}", flush=True
            ),
            timeout_s=settings.search.shard_host_timeout_s,
            connections=settings.search.shard_host_connections,
        )
    except KeyboardInterrupt:
        pass
    except (CallscopeError, OSError) as exc:
        _fail(str(exc))
