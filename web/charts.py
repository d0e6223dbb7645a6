"""The data behind the console's charts: one plain dict per chart, which the templates write
into the chart's element (a data-chart attribute, JSON) for static/charts.js to draw with
Apache ECharts, and as a table of its numbers beneath (what a page shows without script).

Each point of a trend chart carries the link to the calls behind it (`url`).
"""

from __future__ import annotations

from collections.abc import Callable

from callscope.emotion.trends import busiest

Shown = Callable[[float], str]


def _point(value: float | None, text: str, url: str | None = None, **extra) -> dict:
    return {"value": value, "text": text, "url": url, **extra}


def figure_chart(
    days: list[dict],
    measure: str,
    label: str,
    shown: Shown,
    marked: frozenset[str] = frozenset(),
    compare: list[dict] | None = None,
    names: tuple[str, str] | None = None,
) -> dict | None:
    """One figure per day, each point a link to the day's calls (`url`); days in `marked`
    flagged as spikes; `compare` (the queue's, say) as a second line. `shown(value)` writes a
    value as the page does; `names` names the line and the compared line. None when no day
    has the figure."""
    rows = days + (compare or [])
    if all(row.get(measure) is None for row in rows):
        return None
    spec = {
        "kind": "days",
        "label": label,
        "format": _format_of(measure),
        "dates": [row["date"] for row in days],
        "points": [
            _point(
                row.get(measure),
                _text(shown, row.get(measure)),
                row.get("url"),
                spike=row["date"] in marked,
            )
            for row in days
        ],  # fmt: skip
        "names": list(names or (label, "")),
    }
    if compare:
        spec["compare"] = [
            _point(row.get(measure), _text(shown, row.get(measure))) for row in compare
        ]
    return spec


def _text(shown: Shown, value: float | None) -> str:
    return "-" if value is None else shown(value)


def _format_of(measure: str) -> str:
    """How charts.js writes the figure's axis values (as `shown` writes the points')."""
    if measure in ("silence", "escalation_share"):
        return "percent"
    if measure in ("handle_s", "overtalk_s"):
        return "clock"
    if measure.startswith("sentiment"):
        return "signed"
    return "number"


def trend_chart(rows: list[dict], label: str) -> dict | None:
    """Mean sentiment by day, one line for each of the busiest groups; with one day, a bar
    per group. Every point links to the calls behind it."""
    if not rows:
        return None
    days = sorted({row["date"] for row in rows})
    if len(days) == 1:
        return _trend_bars(rows, label)
    by_cell = {(row["key"], row["date"]): row for row in rows}
    series = []
    for key in busiest(rows):
        cells = [by_cell.get((key, day)) for day in days]
        points = [_trend_point(row) if row else _point(None, "-") for row in cells]
        series.append({"name": key, "points": points})
    return {"kind": "trend", "label": label, "format": "signed", "dates": days, "series": series}


def _trend_point(row: dict) -> dict:
    value = row["mean_sentiment"]
    text = "-" if value is None else f"{value:+.2f}"
    return _point(value, text, row["url"], calls=row["calls"])


def _trend_bars(rows: list[dict], label: str) -> dict:
    by_key = {row["key"]: row for row in rows}
    bars = []
    for key in busiest(rows, limit=12):
        row = by_key[key]
        bars.append(
            {"name": key, **_trend_point(row | {"mean_sentiment": row["mean_sentiment"] or 0.0})}
        )
    return {
        "kind": "groups",
        "label": label,
        "format": "signed",
        "date": rows[0]["date"],
        "bars": bars,
    }


def incident_chart(rows: list[dict], limit: int = 12) -> dict | None:
    """Calls today against expected for the top topics and categories; unusual ones flagged,
    those in warm-up (no baseline yet) without an expected figure."""
    shown = rows[:limit]
    if not shown:
        return None
    bars = [
        {
            "name": row["label"] or row["incident_id"],
            "calls": row["calls"],
            "expected": None if row.get("method") == "warm-up" else row["expected"],
            "spike": bool(row["is_spike"]),
            "warm_up": row.get("method") == "warm-up",
        }
        for row in shown
    ]
    return {"kind": "incidents", "bars": bars}


def day_counts(days: list[dict]) -> dict | None:
    """Matches a day, as columns (a saved query over the latest days)."""
    if not days:
        return None
    return {
        "kind": "columns",
        "format": "number",
        "dates": [day["date"] for day in days],
        "points": [_point(day["matches"], str(day["matches"])) for day in days],
    }


SPEAKERS = ("customer", "agent")


def call_sentiment_chart(timeline: dict) -> dict | None:
    """The call page's sentiment over the call (`timeline` from services.timeline): a point per
    turn that has sentiment, at the turn's start (where a click seeks the audio), one line per
    speaker; where no turn has sentiment, the customer's start and end. None without any."""
    source = timeline["sentiment"]["source"]
    if source == "segments":
        blocks = [block for lane in timeline["lanes"] for block in lane["blocks"]]
        series = [
            {"speaker": speaker, "points": [_turn_point(b) for b in blocks if _feels(b, speaker)]}
            for speaker in SPEAKERS
        ]
    elif source == "call":
        ends = timeline["sentiment"]["lines"]["customer"]
        series = [{"speaker": "customer", "points": [_moment(t, v) for t, v in ends]}]
    else:
        return None
    return {
        "kind": "turns",
        "source": source,
        "format": "signed",
        "duration_s": timeline["duration_s"],
        "series": [line for line in series if line["points"]],
    }


def turn_rows(spec: dict) -> list[dict]:
    """The chart's points as the table beneath it: by time, each with its speaker."""
    rows = [
        point | {"speaker": line["speaker"]} for line in spec["series"] for point in line["points"]
    ]
    return sorted(rows, key=lambda row: row["value"][0])


def _feels(block: dict, speaker: str) -> bool:
    return block["speaker"] == speaker and block["sentiment"] is not None


def _turn_point(block: dict) -> dict:
    return _moment(block["start_s"], block["sentiment"]) | {"seg": block["idx"]}


def _moment(seconds: float, sentiment: float) -> dict:
    return {
        "value": [seconds, sentiment],
        "text": f"{sentiment:+.1f}",
        "time": minutes_seconds(seconds),
        "seg": None,
    }


def minutes_seconds(seconds: float) -> str:
    """m:ss, as the chart's time axis writes it."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
