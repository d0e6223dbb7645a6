"""The overview's and the agent view's figures, from a compact summary of each day's calls.

A day's calls partition is read once (the columns below only) and summed into small tables:
per queue, per queue and category, per queue and agent, and per queue, agent and category
(calls only). Each measure is kept as a sum and a count of the calls that have it, so a
period's mean is exact: the sum of the days' sums over the sum of their counts. Summaries are
kept in memory keyed by the partition's version (web/data.py LRU, WarehouseView.stamp), so a
night that rewrites a day is seen at the next request, and a request touches the summaries
only, never the calls.

When the app starts, a background thread (`Warmer`) sums the newest days once, so the first
overview after a restart reads summaries too; a request that comes before it is done sums the
days it needs itself, as it would without the warmer.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.errors import PartitionUnreadable
from callscope.core.logs import get_logger
from callscope.web.data import LRU, WarehouseView

logger = get_logger(__name__)

# measure -> the calls column it is the mean of
MEASURES = {
    "handle_s": "duration_s",
    "silence": "silence_ratio",
    "overtalk_s": "overtalk_s",
    "interruptions": "interruptions_agent",
    "interruptions_customer": "interruptions_customer",
    "sentiment": "customer_sentiment",
    "sentiment_start": "customer_sentiment_start",
    "sentiment_end": "customer_sentiment_end",
}
READ = ["queue", "agent_id", "categories", "escalation_risk", *MEASURES.values()]
COUNTS = ["calls", "escalations"]
SUMS = [f"sum_{m}" for m in MEASURES] + [f"n_{m}" for m in MEASURES]
VALUES = COUNTS + SUMS
DAYS_KEPT = 800  # day summaries kept in memory (two years and more)
PERIODS_KEPT = 16  # periods whose day summaries are kept stacked
RECENT_DAYS = 7  # rising categories: the period's last week against the weeks before it


@dataclass(frozen=True)
class DaySummary:
    """One day's calls summed by queue (`queues`), queue and category (`categories`), queue
    and agent (`agents`), and calls by queue, agent and category (`agent_categories`)."""

    queues: pa.Table
    categories: pa.Table
    agents: pa.Table
    agent_categories: pa.Table


LEVELS = ("queues", "categories", "agents", "agent_categories")
# levels also kept summed over the whole period (agents' rows are many: a request filters these)
PERIOD_LEVELS = {
    "categories": ["queue", "category"],
    "agents": ["queue", "agent"],
    "agent_categories": ["queue", "agent", "category"],
}


# a day's summary ---------------------------------------------------------------------------
def summarize(calls: pa.Table) -> DaySummary:
    """The day's summary of its calls rows (columns READ)."""
    base = _prepared(calls)
    tagged = _by_category(base, calls["categories"])
    return DaySummary(
        queues=_sum(base, ["queue"]),
        categories=_sum(tagged, ["queue", "category"]),
        agents=_sum(base, ["queue", "agent"]),
        agent_categories=_sum(tagged.select(["queue", "agent", "category", "calls"]),
                              ["queue", "agent", "category"]),
    )  # fmt: skip


def _prepared(calls: pa.Table) -> pa.Table:
    n = calls.num_rows
    columns = {
        "queue": pc.fill_null(calls["queue"], ""),
        "agent": pc.fill_null(calls["agent_id"], ""),
        "calls": pa.array([1] * n, pa.int64()),
        "escalations": pc.cast(pc.fill_null(calls["escalation_risk"], False), pa.int64()),
    }
    for measure, column in MEASURES.items():
        values = pc.cast(calls[column], pa.float64())
        columns[f"sum_{measure}"] = pc.fill_null(values, 0.0)
        columns[f"n_{measure}"] = pc.cast(pc.is_valid(values), pa.int64())
    return pa.table(columns)


def _by_category(base: pa.Table, categories: pa.ChunkedArray) -> pa.Table:
    """A row per call and category it is tagged with (each category once per call)."""
    lists = pc.list_value_length(categories)
    if not base.num_rows or not pc.sum(pc.fill_null(lists, 0)).as_py():
        return base.append_column("category", pa.array([], pa.string())).slice(0, 0)
    flat = categories.combine_chunks()
    parents = pc.list_parent_indices(flat)
    rows = base.take(parents).append_column("category", pc.list_flatten(flat))
    keys = pa.table({"p": parents, "c": rows["category"]})
    first = keys.group_by(["p", "c"], use_threads=False).aggregate([])  # duplicates once
    if first.num_rows == rows.num_rows:
        return rows
    unique = _first_rows(keys)
    return rows.take(unique)


def _first_rows(keys: pa.Table) -> pa.Array:
    seen, keep = set(), []
    for n, pair in enumerate(zip(keys["p"].to_pylist(), keys["c"].to_pylist(), strict=True)):
        if pair not in seen:
            seen.add(pair)
            keep.append(n)
    return pa.array(keep, pa.int64())


def _sum(table: pa.Table, keys: list[str]) -> pa.Table:
    values = [name for name in table.column_names if name not in keys and name != "category"]
    values = [name for name in values if name not in ("queue", "agent")]
    out = table.group_by(keys, use_threads=False).aggregate([(v, "sum") for v in values])
    out = out.rename_columns([name.removesuffix("_sum") for name in out.column_names])
    return _encoded(out, keys)


def _encoded(table: pa.Table, keys: list[str]) -> pa.Table:
    """Agents and categories as dictionaries: a year of days' rows stays small in memory."""
    for key in keys:
        if key in ("agent", "category"):
            at = table.column_names.index(key)
            table = table.set_column(at, key, pc.dictionary_encode(table[key]))
    return table


def _decoded(table: pa.Table, keys: list[str]) -> pa.Table:
    for key in keys:
        if pa.types.is_dictionary(table.schema.field(key).type):
            at = table.column_names.index(key)
            table = table.set_column(at, key, table[key].cast(pa.string()))
    return table


# summaries kept in memory ------------------------------------------------------------------
class Summaries:
    """The day summaries of one warehouse view, each rebuilt when its partition changes."""

    def __init__(self, view: WarehouseView):
        self.view = view
        self.days = LRU(DAYS_KEPT)
        self.periods = LRU(PERIODS_KEPT)
        self.warmed = threading.Event()  # set once the startup warming has summed its days

    def day(self, day: dt.date, stamp: str | None = None) -> DaySummary:
        stamp = stamp if stamp is not None else self.view.stamp("calls", day)
        return self.days.get(
            day, stamp, lambda: summarize(self.view.store.read("calls", day, READ))
        )

    def period(self, start: dt.date, end: dt.date) -> dict[str, pa.Table]:
        """Each level's rows of every day with calls in start..end, a `date` column added."""
        days = [day for day in self.view.days() if start <= day <= end]
        stamps = tuple(self.view.stamp("calls", day) for day in days)
        return self.periods.get(
            (start, end), (tuple(days), stamps), lambda: self._stacked(days, stamps, end)
        )

    def _stacked(self, days: list[dt.date], stamps: tuple, end: dt.date) -> dict[str, pa.Table]:
        summaries = [self.day(day, stamp) for day, stamp in zip(days, stamps, strict=True)]
        out = {}
        for level in LEVELS:
            parts = [_dated(getattr(s, level), day) for day, s in zip(days, summaries, strict=True)]
            out[level] = pa.concat_tables(parts) if parts else None
        for level, keys in PERIOD_LEVELS.items():
            out[f"{level}_period"] = _period_sum(out[level], keys)
        out |= _recent_and_before(out["categories"], end - dt.timedelta(days=RECENT_DAYS - 1))
        return out


def _recent_and_before(table: pa.Table | None, split: dt.date) -> dict[str, pa.Table | None]:
    """The categories' rows summed over the period's last week and over the days before."""
    if table is None:
        return {"categories_recent": None, "categories_before": None}
    recent = pc.greater_equal(table["date"], pa.scalar(split, pa.date32()))
    keys = ["queue", "category"]
    return {
        "categories_recent": _period_sum(table.filter(recent), keys),
        "categories_before": _period_sum(table.filter(pc.invert(recent)), keys),
    }


class Warmer:
    """Sums the newest days (newest first, at most DAYS_KEPT) into `summaries` in a daemon
    thread, then stacks `period` (the overview's default), and sets `summaries.warmed`. A day
    that cannot be read is left to the request that needs it, which reports it."""

    def __init__(self, summaries: Summaries, period: tuple[dt.date, dt.date] | None = None):
        self.summaries = summaries
        self.period = period
        self.thread = threading.Thread(target=self._run, name="overview-warmer", daemon=True)

    def start(self) -> Warmer:
        self.thread.start()
        return self

    def _run(self) -> None:
        started, days = time.perf_counter(), []
        try:
            days = self.summaries.view.days()[-DAYS_KEPT:]
            for day in reversed(days):
                self._day(day)
            if self.period is not None:
                self.summaries.period(*self.period)
        except (OSError, PartitionUnreadable, pa.ArrowException) as exc:
            logger.warning("the overview's summaries were not warmed: %s", exc)
        finally:
            self.summaries.warmed.set()
        logger.info("overview: %d days summed in %.1f s", len(days), time.perf_counter() - started)

    def _day(self, day: dt.date) -> None:
        try:
            self.summaries.day(day)
        except (OSError, PartitionUnreadable, pa.ArrowException) as exc:
            logger.warning("overview: %s not summed ahead: %s", day, exc)


_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KEPT_LOCK = threading.Lock()


def summaries_of(view: WarehouseView) -> Summaries:
    with _KEPT_LOCK:
        found = _KEPT.get(view)
        if found is None:
            found = _KEPT[view] = Summaries(view)
        return found


def _period_sum(table: pa.Table | None, keys: list[str]) -> pa.Table | None:
    if table is None:
        return None
    values = [c for c in VALUES if c in table.column_names]
    out = (
        _decoded(table, keys)
        .group_by(keys, use_threads=False)
        .aggregate([(v, "sum") for v in values])
    )
    return out.rename_columns([name.removesuffix("_sum") for name in out.column_names])


def _dated(table: pa.Table, day: dt.date) -> pa.Table:
    return table.append_column("date", pa.array([day] * table.num_rows, pa.date32()))


# figures of a period -----------------------------------------------------------------------
def matching(
    table: pa.Table | None,
    queues: list[str] | None = None,
    category: str | None = None,
    agent: str | None = None,
) -> pa.Table | None:
    """The rows of one level for the queues (all when none), category and agent."""
    if table is None or not table.num_rows:
        return None
    if agent:
        table = table.filter(pc.equal(table["agent"], agent))
    if category:
        table = table.filter(pc.equal(table["category"], category))
    if queues:
        table = table.filter(pc.is_in(table["queue"], pa.array(queues, pa.string())))
    return table


def totals_by(table: pa.Table | None, keys: list[str]) -> list[dict]:
    """The rows summed by `keys`, each with its figures (figures_of)."""
    if table is None or not table.num_rows:
        return []
    columns = [c for c in VALUES if c in table.column_names]
    table = _decoded(table, keys)
    out = table.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in columns])
    out = out.rename_columns([name.removesuffix("_sum") for name in out.column_names])
    rows = out.to_pylist()
    return [{k: row[k] for k in keys} | figures_of(row) for row in rows]


def total(table: pa.Table | None) -> dict:
    """The period's figures over all the rows."""
    if table is None or not table.num_rows:
        return figures_of({})
    return figures_of({c: pc.sum(table[c]).as_py() for c in VALUES if c in table.column_names})


def figures_of(sums: dict) -> dict:
    """Calls, escalation risk share and each measure's mean (None where no call has it, or
    where the rows hold calls only: an agent's categories)."""
    calls = sums.get("calls") or 0
    escalations = sums.get("escalations")
    out: dict = {"calls": calls, "escalations": escalations}
    out["escalation_share"] = escalations / calls if calls and escalations is not None else None
    for measure in MEASURES:
        count = sums.get(f"n_{measure}") or 0
        out[measure] = sums[f"sum_{measure}"] / count if count else None
    return out


def top_categories(table: pa.Table | None, calls: int, limit: int = 10) -> list[dict]:
    """The categories with most calls, with their share of all the calls."""
    rows = totals_by(table, ["category"])
    rows.sort(key=lambda row: (-row["calls"], row["category"]))
    return [row | {"share": row["calls"] / calls if calls else None} for row in rows[:limit]]


def rising_categories(
    recent: pa.Table | None,
    before: pa.Table | None,
    per_day: list[dict],
    limit: int = 5,
    min_calls: int = 3,
) -> list[dict]:
    """Categories whose share of calls in the period's last week (`recent`: the period's
    categories rows summed over it) grew most against the days before it (`before`)."""
    if recent is None or len(per_day) <= RECENT_DAYS:
        return []
    recent_calls = sum(row["calls"] for row in per_day[-RECENT_DAYS:])
    before_calls = sum(row["calls"] for row in per_day[:-RECENT_DAYS])
    now = {r["category"]: r["calls"] for r in totals_by(recent, ["category"])}
    then = {r["category"]: r["calls"] for r in totals_by(before, ["category"])}
    out = []
    for category, count in now.items():
        share_now = count / recent_calls if recent_calls else 0.0
        share_then = then.get(category, 0) / before_calls if before_calls else 0.0
        if count >= min_calls and share_now > share_then:
            out.append({"category": category, "calls": count, "share": share_now,
                        "share_before": share_then, "change": share_now - share_then})  # fmt: skip
    out.sort(key=lambda row: (-row["change"], row["category"]))
    return out[:limit]


def daily(table: pa.Table | None, days: list[dt.date]) -> list[dict]:
    """The figures of each day (a day without calls in the selection has 0 calls)."""
    found = {row["date"]: row for row in totals_by(table, ["date"])}
    empty = figures_of({})
    return [found.get(day, empty | {"date": day}) | {"date": day.isoformat()} for day in days]
