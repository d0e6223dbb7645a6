"""Small inline SVG charts, drawn on the server (no script library, nothing from elsewhere).

Each point or bar of a trend chart is a link to the calls behind it.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from callscope.emotion.trends import busiest
from markupsafe import Markup

# matplotlib's tab10, as in the emotion module's PNG chart
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
WIDTH = 900


def _svg(height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'
    )


def trend_chart(rows: list[dict], label: str) -> Markup:
    """Lines of mean sentiment by day for the busiest groups; bars when there is one day."""
    if not rows:
        return Markup("")
    days = sorted({row["date"] for row in rows})
    if len(days) == 1:
        return _trend_bars(rows, label)
    keys = busiest(rows)
    left, right, top, bottom, height = 60, 190, 20, 40, 340
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def x(day: str) -> float:
        return left + plot_w * days.index(day) / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return top + plot_h * (5 - value) / 10

    body = _y_axis(left, WIDTH - right, y)
    step = max(1, len(days) // 10)
    for n, day in enumerate(days):
        if n % step == 0 or n == len(days) - 1:
            body.append(
                _text(
                    x(day),
                    height - 15,
                    dt.date.fromisoformat(day).strftime("%m-%d"),
                    "middle",
                    "tick",
                )
            )
    for n, key in enumerate(keys):
        colour = PALETTE[n % len(PALETTE)]
        mine = [r for r in rows if r["key"] == key and r["mean_sentiment"] is not None]
        points = " ".join(f"{x(r['date']):.1f},{y(r['mean_sentiment']):.1f}" for r in mine)
        body.append(f'<polyline class="line" points="{points}" fill="none" stroke="{colour}"/>')
        for row in mine:
            body.append(_point(x(row["date"]), y(row["mean_sentiment"]), colour, row))
        ly = top + 16 * n + 8
        body.append(
            f'<rect x="{WIDTH - right + 15}" y="{ly - 8}" width="12" height="12" fill="{colour}"/>'
        )
        body.append(_text(WIDTH - right + 32, ly + 2, _short(key, 22), cls="legend"))
    return _svg(height, body, label)


def _point(cx: float, cy: float, colour: str, row: dict) -> str:
    tip = (
        f"{row['key']} {row['date']}: sentiment {row['mean_sentiment']:+.2f}, {row['calls']} calls"
    )
    return (
        f'<a href="{escape(row["url"])}" class="point"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" '
        f'fill="{colour}"><title>{escape(tip)}</title></circle></a>'
    )


def _y_axis(x0: float, x1: float, y) -> list[str]:
    out = []
    for value in range(-4, 5, 2):
        cls = "zero" if value == 0 else "grid"
        out.append(
            f'<line class="{cls}" x1="{x0}" x2="{x1}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
        )
        out.append(_text(x0 - 8, y(value) + 4, f"{value:+d}" if value else "0", "end", "tick"))
    out.append(_text(12, y(0) - 8, "sentiment", cls="axis"))
    return out


def _trend_bars(rows: list[dict], label: str) -> Markup:
    """One day: a bar per group from 0 to its mean sentiment, each a link."""
    keys = busiest(rows, limit=12)
    by_key = {row["key"]: row for row in rows}
    left, bar_h, top = 230, 24, 30
    height = top + bar_h * len(keys) + 40
    mid, half = left + (WIDTH - left - 40) / 2, (WIDTH - left - 40) / 2
    body = [f'<line class="zero" x1="{mid}" x2="{mid}" y1="{top - 10}" y2="{height - 30}"/>']
    for value in (-5, -2.5, 2.5, 5):
        xv = mid + half * value / 5
        body.append(f'<line class="grid" x1="{xv}" x2="{xv}" y1="{top - 10}" y2="{height - 30}"/>')
        body.append(_text(xv, height - 12, f"{value:+g}", "middle", "tick"))
    for n, key in enumerate(keys):
        row = by_key[key]
        value = row["mean_sentiment"] or 0.0
        yv = top + n * bar_h
        x0, x1 = sorted((mid, mid + half * value / 5))
        colour = "#c0392b" if value < -1 else "#e67e22" if value < 0 else "#27ae60"
        tip = f"{key}: sentiment {value:+.2f}, {row['calls']} calls"
        body.append(
            f'<a href="{escape(row["url"])}" class="point"><rect x="{x0:.1f}" y="{yv}" '
            f'width="{max(x1 - x0, 2):.1f}" height="{bar_h - 6}" fill="{colour}">'
            f"<title>{escape(tip)}</title></rect></a>"
        )
        body.append(
            _text(
                left - 10,
                yv + bar_h / 2 + 1,
                f"{_short(key, 24)} ({row['calls']})",
                "end",
                "legend",
            )
        )
    return _svg(height, body, label)


def incident_chart(rows: list[dict], limit: int = 12) -> Markup:
    """Calls today (bars, red when unusual) against expected (black tick)."""
    shown = rows[:limit]
    if not shown:
        return Markup("")
    left, bar_h, top = 300, 24, 20
    height = top + bar_h * len(shown) + 40
    most = max(max(r["calls"], r["expected"] or 0) for r in shown) or 1
    scale = (WIDTH - left - 40) / most
    body = []
    for n, row in enumerate(shown):
        yv = top + n * bar_h
        colour = "#c0392b" if row["is_spike"] else "#95a5a6"
        tip = f"{row['label']}: {row['calls']} calls, {row['expected']:.1f} expected"
        body.append(
            f'<rect x="{left}" y="{yv}" width="{max(row["calls"] * scale, 1):.1f}" '
            f'height="{bar_h - 6}" fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
        ex = left + (row["expected"] or 0) * scale
        body.append(
            f'<line class="expected" x1="{ex:.1f}" x2="{ex:.1f}" y1="{yv - 2}" y2="{yv + bar_h - 4}"/>'
        )
        body.append(
            _text(
                left - 10,
                yv + bar_h / 2 + 1,
                _short(row["label"] or row["incident_id"], 40),
                "end",
                "legend",
            )
        )
    body.append(
        _text(
            left,
            height - 12,
            "calls today (bars; red: unusual) — expected (black tick)",
            cls="axis",
        )
    )
    return _svg(height, body, "calls against expected")


def day_counts(days: list[dict]) -> Markup:
    """Matches a day, as columns (a saved query over the latest days)."""
    if not days:
        return Markup("")
    height, top, bottom, left = 180, 20, 40, 40
    most = max(d["matches"] for d in days) or 1
    step = (WIDTH - left - 20) / len(days)
    body = []
    for n, day in enumerate(days):
        h = (height - top - bottom) * day["matches"] / most
        xv = left + n * step
        body.append(
            f'<rect x="{xv + 4:.1f}" y="{height - bottom - h:.1f}" width="{max(step - 8, 2):.1f}" '
            f'height="{h:.1f}" fill="#2c7fb8"><title>{day["date"]}: {day["matches"]} matches</title></rect>'
        )
        body.append(
            _text(xv + step / 2, height - bottom - h - 4, str(day["matches"]), "middle", "tick")
        )
        body.append(_text(xv + step / 2, height - 20, day["date"][5:], "middle", "tick"))
    return _svg(height, body, "matches by day")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def figure_chart(
    days: list[dict],
    measure: str,
    label: str,
    shown,
    marked: frozenset[str] = frozenset(),
    compare: list[dict] | None = None,
) -> Markup:
    """One figure per day as a line of points, each a link to the day's calls (`url`); days
    in `marked` ringed red (spikes); `compare` (the queue's, say) as a grey line beneath.
    `shown(value)` writes a value for the points' tips."""
    values = [row[measure] for row in days + (compare or []) if row.get(measure) is not None]
    if not values:
        return Markup("")
    left, right, top, bottom, height = 60, 20, 14, 26, 150
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1

    def x(n: int) -> float:
        return left + (WIDTH - left - right) * n / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - value) / (high - low)

    body = [f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y(v):.1f}" '
            f'y2="{y(v):.1f}"/>' + _text(left - 6, y(v) + 4, shown(v), "end", "tick")
            for v in (low, high)]  # fmt: skip
    if compare:
        body.append(_polyline(compare, measure, x, y, "#999999", "compare"))
    body.append(_polyline(days, measure, x, y, PALETTE[0], "line"))
    step = max(1, len(days) // 8)
    for n, row in enumerate(days):
        if n % step == 0 or n == len(days) - 1:
            body.append(_text(x(n), height - 8, row["date"][5:], "middle", "tick"))
        if row.get(measure) is not None:
            body.append(_figure_point(x(n), y(row[measure]), row, shown(row[measure]), marked))
    return _svg(height, body, label)


def _polyline(rows: list[dict], measure: str, x, y, colour: str, cls: str) -> str:
    points = " ".join(
        f"{x(n):.1f},{y(row[measure]):.1f}"
        for n, row in enumerate(rows)
        if row.get(measure) is not None
    )
    return f'<polyline class="{cls}" points="{points}" fill="none" stroke="{colour}"/>'


def _figure_point(cx: float, cy: float, row: dict, value: str, marked: frozenset[str]) -> str:
    spike = row["date"] in marked
    ring = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="9" class="spike-ring"/>' if spike else ""
    return (
        f'<a href="{escape(row["url"])}" class="point{" spike" if spike else ""}">{ring}'
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{PALETTE[0]}">'
        f"<title>{escape(row['date'])}: {escape(value)}</title></circle></a>"
    )
