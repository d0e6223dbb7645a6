"""Emotion trends over days from the `emotion_daily` table: rows, a text table, a chart."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections import defaultdict
from pathlib import Path

from callscope.core.fonts import use_cjk_font
from callscope.storage.warehouse import Warehouse

BY = ("all", "queue", "agent", "category")
ROLES = ("customer", "agent")
CHART_KEYS = 8  # the busiest groups drawn; the table lists all
COLUMNS = (
    ("date", "date", "{}"),
    ("key", "group", "{}"),
    ("calls", "calls", "{:d}"),
    ("mean_sentiment", "sentiment", "{:+.2f}"),
    ("mean_start", "start", "{:+.2f}"),
    ("mean_end", "end", "{:+.2f}"),
    ("share_negative", "negative", "{:.0%}"),
    ("share_angry", "angry", "{:.0%}"),
    ("share_ending_worse", "worse", "{:.0%}"),
    ("share_ending_calmer", "calmer", "{:.0%}"),
    ("escalation_risk_calls", "at risk", "{:d}"),
)


class TrendsError(ValueError):
    """Nothing to show, or a chart file that cannot be written."""


def load_trends(
    store: Warehouse, start: dt.date, end: dt.date, by: str = "all", role: str = "customer"
) -> list[dict]:
    table = store.read_range("emotion_daily", start, end)
    rows = [row for row in table.to_pylist() if row["dimension"] == by and row["role"] == role]
    rows.sort(key=lambda row: (row["date"], -(row["calls"] or 0), row["key"]))
    for row in rows:
        row["date"] = row["date"].isoformat()
        for name, value in row.items():
            if isinstance(value, float):
                row[name] = round(value, 3)  # float32 in Parquet: no 0.9789999723
    return rows


def busiest(rows: list[dict], limit: int = CHART_KEYS) -> list[str]:
    calls: dict[str, int] = defaultdict(int)
    for row in rows:
        calls[row["key"]] += row["calls"] or 0
    return sorted(calls, key=lambda key: (-calls[key], key))[:limit]


def render_table(rows: list[dict], role: str) -> str:
    columns = [
        c
        for c in COLUMNS
        if role == "customer"
        or c[0] in ("date", "key", "calls", "mean_sentiment", "share_negative")
    ]
    cells = [[_cell(row.get(name), fmt) for name, _, fmt in columns] for row in rows]
    headers = [title for _, title, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    for row in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def draw(rows: list[dict], path: Path, title: str) -> Path:
    """A PNG, SVG or a self-contained HTML page (chart + table) for the rows."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".html", ".htm"):
        raise TrendsError(f"{path}: the chart must be a .png, .svg or .html file")
    figure = _figure(rows, title)
    try:
        if suffix in (".png", ".svg"):
            figure.savefig(path, dpi=120)
        else:
            path.write_text(_html_page(figure, rows, title), encoding="utf-8")
    except OSError as exc:
        raise TrendsError(f"{path}: cannot write the chart ({exc})") from exc
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


def _figure(rows: list[dict], title: str):
    import matplotlib

    matplotlib.use("Agg")
    use_cjk_font(matplotlib)
    days = sorted({row["date"] for row in rows})
    if len(days) >= MIN_DAYS_FOR_LINES:
        return _over_time(rows, title)
    return _by_group(by_key(rows), title)


MIN_DAYS_FOR_LINES = 3


def by_key(rows: list[dict]) -> list[dict]:
    """The range folded into one row per group, each day weighted by its calls."""
    folded = []
    for key in busiest(rows, limit=len(rows)):
        mine = [row for row in rows if row["key"] == key]
        calls = sum(row["calls"] or 0 for row in mine)
        summary = {"key": key, "calls": calls}
        for name in (
            "mean_sentiment",
            "mean_start",
            "mean_end",
            "share_negative",
            "share_angry",
            "share_ending_worse",
            "share_ending_calmer",
        ):
            pairs = [(row[name], row["calls"] or 0) for row in mine if row.get(name) is not None]
            weight = sum(w for _, w in pairs)
            summary[name] = sum(v * w for v, w in pairs) / weight if weight else None
        summary["escalation_risk_calls"] = sum(
            row.get("escalation_risk_calls") or 0 for row in mine
        )
        folded.append(summary)
    return folded


def _by_group(groups: list[dict], title: str):
    import matplotlib.pyplot as plt

    groups = groups[:CHART_KEYS][::-1]  # busiest on top
    labels = [f"{g['key']}  ({g['calls']} call{'s' if g['calls'] != 1 else ''})" for g in groups]
    height = 1.6 + 0.55 * len(groups)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, height), sharey=True, width_ratios=[1.1, 1], layout="constrained"
    )
    positions = range(len(groups))
    sentiment = [_nan(g["mean_sentiment"]) for g in groups]
    colours = ["#c0392b" if v < -1 else "#e67e22" if v < 0 else "#27ae60" for v in sentiment]
    left.barh(positions, sentiment, color=colours, alpha=0.8, height=0.6)
    for y, group in zip(positions, groups, strict=True):
        if group["mean_start"] is not None and group["mean_end"] is not None:
            left.annotate(
                "",
                xy=(group["mean_end"], y),
                xytext=(group["mean_start"], y),
                arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.4},
            )
    left.axvline(0, color="grey", linewidth=0.8)
    left.set_xlim(-5, 5)
    left.set_yticks(list(positions), labels)
    left.set_xlabel("mean customer sentiment (-5 .. +5); arrow: first -> last quarter of turns")
    left.set_title(title, loc="left")
    shares = (
        ("share_negative", "negative", "#c0392b"),
        ("share_angry", "angry", "#8e44ad"),
        ("share_ending_worse", "ended worse", "#7f8c8d"),
        ("share_ending_calmer", "left calmer", "#27ae60"),
    )
    step = 0.8 / len(shares)
    for i, (name, label, colour) in enumerate(shares):
        offsets = [y - 0.4 + step * (i + 0.5) for y in positions]
        right.barh(
            offsets, [_pct(g.get(name)) for g in groups], height=step, color=colour, label=label
        )
    right.set_xlim(0, 100)
    right.set_xlabel("% of calls")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    for axis in (left, right):
        axis.grid(True, axis="x", alpha=0.3)
    return figure


def _over_time(rows: list[dict], title: str):
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    keys = busiest(rows)
    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, height_ratios=[3, 2, 1.4], layout="constrained"
    )
    width = 0.8 / max(len(keys), 1)
    for number, key in enumerate(keys):
        mine = [row for row in rows if row["key"] == key]
        days = [dt.date.fromisoformat(row["date"]) for row in mine]
        line = top.plot(days, [_nan(row["mean_sentiment"]) for row in mine], marker="o", label=key)
        colour = line[0].get_color()
        middle.plot(
            days, [_pct(row.get("share_negative")) for row in mine], marker="o", color=colour
        )
        if mine and mine[0].get("share_angry") is not None:
            middle.plot(
                days,
                [_pct(row.get("share_angry")) for row in mine],
                linestyle=":",
                marker="x",
                color=colour,
            )
        offset = -0.4 + width * (number + 0.5)  # side by side, in days
        bottom.bar(
            [mdates.date2num(day) + offset for day in days],
            [row["calls"] or 0 for row in mine],
            width=width,
            color=colour,
            alpha=0.7,
        )
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylim(-5, 5)
    top.set_ylabel("mean sentiment\n(-5 .. +5)")
    top.set_title(title, loc="left")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title="group")
    middle.set_ylabel("% of calls\nnegative (—), angry (··)")
    middle.set_ylim(0, 100)
    bottom.set_ylabel("calls")
    bottom.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=12))
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    for axis in (top, middle, bottom):
        axis.grid(True, alpha=0.3)
    return figure


def _nan(value):
    return float("nan") if value is None else value


def _pct(value):
    return float("nan") if value is None else 100 * value


def _html_page(figure, rows: list[dict], title: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    image = base64.b64encode(buffer.getvalue()).decode()
    header = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_cell(row.get(n), f))}</td>" for n, _, f in COLUMNS)
        + "</tr>"
        for row in rows
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<img alt='emotion trends chart' src='data:image/png;base64,{image}'>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        "<p>sentiment: mean of the calls' customer sentiment (-5..+5); negative: share of "
        "calls below -1; angry: calls with an angry customer segment; worse / calmer: the "
        "customer's last quarter of turns more than 1 below / above the first; at risk: "
        "calls flagged for escalation.</p></body></html>"
    )
