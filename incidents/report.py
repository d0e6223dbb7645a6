"""Incidents as people read them: JSON-ready rows, a terminal table, a Markdown summary and a
chart of observed against expected calls."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pyarrow as pa
from callscope.core.links import call_url

PUBLIC_FIELDS = (
    "incident_id",
    "kind",
    "label",
    "topic_id",
    "category",
    "terms",
    "variants",
    "categories",
    "calls",
    "share",
    "expected",
    "baseline_days",
    "ratio",
    "score",
    "p_value",
    "is_spike",
    "method",
    "first_seen",
    "queues",
    "mean_sentiment",
    "escalation_risk_calls",
    "examples",
)
HANDOFF_FIELDS = ("section", "title", "story_id", "story_rank", "story_calls")
CHART_ROWS = 10


def public_rows(table: pa.Table) -> list[dict]:
    """Incident rows as plain JSON-ready dicts (no vectors, no full call lists), ranked."""
    rows = []
    for row in table.to_pylist():
        out = {key: row.get(key) for key in PUBLIC_FIELDS}
        for key in ("share", "expected", "ratio", "score", "mean_sentiment"):
            out[key] = None if out[key] is None else round(float(out[key]), 3)
        out["first_seen"] = row["first_seen"].isoformat() if row.get("first_seen") else None
        out["examples"] = [
            {
                "call_id": e["call_id"],
                "start_s": None if e["start_s"] is None else round(e["start_s"], 2),
                "text": e["text"],
            }
            for e in row.get("examples") or []
        ]
        for key in HANDOFF_FIELDS:  # a hand-off's rows: how the summary tells them
            if key in row:
                out[key] = row[key]
        rows.append(out)
    return sorted(rows, key=lambda r: (not r["is_spike"], -(r["score"] or 0), -r["calls"]))


def _flag(row: dict) -> str:
    if row["is_spike"]:
        return "SPIKE"
    if row.get("section") == "emerging":
        return "RISING"
    return "warm-up" if row["method"] == "warm-up" else ""


def story_order(rows: list[dict]) -> list[dict]:
    """Rows as the hand-off tells them: each section's incident followed by its facets, the
    sections in their order, then the rest as ranked. Rows without section fields keep
    their order."""
    facets: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("section") in ("facet", "aspect"):
            facets.setdefault(row["story_id"], []).append(row)
    heads = sorted(
        (r for r in rows if r.get("section") in ("story", "emerging")),
        key=lambda r: r["story_rank"],
    )
    ordered = []
    for head in heads:
        ordered.append(head)
        ordered += sorted(facets.get(head["incident_id"], []), key=lambda r: -r["story_calls"])
    return ordered + [r for r in rows if not r.get("section")]


def render_table(rows: list[dict], limit: int | None = None) -> str:
    if not rows:
        return "no incidents (no calls with an issue statement that day)"
    lines = [
        f"{'':6} {'kind':8} {'calls':>5} {'expected':>8} {'ratio':>6} {'score':>6}  label",
    ]
    for row in story_order(rows)[:limit]:
        facet = row.get("section") in ("facet", "aspect")
        label = row.get("title") or row["label"]
        if facet:
            label = f"└ {row['label']} ({row['story_calls']} in the story)"
        lines.append(
            f"{'' if facet else _flag(row):6} {row['kind']:8} {row['calls']:>5} "
            f"{row['expected']:>8.1f} {row['ratio']:>6.1f} {row['score']:>6.1f}  {label}"
        )
        if (row["is_spike"] or row.get("section") == "emerging") and not facet:
            if row["kind"] == "category" and row["terms"]:
                lines.append(f"{'':24}says: {_terms(row)}")
            for example in row["examples"][:2]:
                lines.append(f"{'':24}e.g. {example['call_id']}: {_short(example['text'], 70)}")
    return "\n".join(lines)


def _terms(row: dict) -> str:
    """Its terms, each with the other spellings heard: 星河九号 (also 心和九号, 星和九号)."""
    heard = {v["term"]: v["heard"] for v in row.get("variants") or []}
    return " · ".join(
        f"{term} (also {', '.join(heard[term])})" if heard.get(term) else term
        for term in row["terms"]
    )


def _short(text: str | None, width: int) -> str:
    text = re.sub(r"\s+", " ", text or "")
    return text if len(text) <= width else text[: width - 1] + "…"


_SPARK = "▁▂▃▄▅▆▇█"
_SECTION_NAMES = {
    "story": "事件 story",
    "facet": "细分 facet",
    "emerging": "苗头 emerging",
    "aspect": "其中 aspect",
}


def markdown(
    day: dt.date,
    stories: list,
    rows: list[dict],
    calls: int,
    chart: str | None,
    timezone: str = "Asia/Shanghai",
    day_hours: list[int] | None = None,
    names: dict[str, str | None] | None = None,
    console_url: str | None = None,
) -> str:
    """summary.md: one section per story (incidents/stories.py), Chinese first, English second,
    then the emerging ones, then every topic and category in a table."""
    quote = _Quoter(day, console_url)
    told = [s for s in stories if s.section == "story"]
    emerging = [s for s in stories if s.section == "emerging"]
    span = _hour_span(day_hours)
    lines = [
        f"# {day.isoformat()} 来电事件 · Incidents on {day.isoformat()}",
        "",
        f"分析来电 {calls} 通；与前几天相比，{len(told)} 个异常事件，{len(emerging)} 个新苗头。",
        f"{calls} calls analysed; {len(told)} unusual {_plural(len(told), 'story', 'stories')} "
        f"and {len(emerging)} emerging against the trailing days.",
        "",
    ]
    if any(r["method"] == "warm-up" for r in rows):
        lines += [
            "之前处理的天数太少，还无法判断什么是异常。",
            "Too few earlier days have been processed to judge what is unusual yet.",
            "",
        ]
    if chart:
        lines += [f"![来电与预期 · calls against expected]({chart})", ""]
    for rank, story in enumerate(told, start=1):
        lines += _story_section(rank, story, timezone, span, names or {}, quote)
    if emerging:
        lines += [
            "## 新苗头 · Emerging",
            "",
            "来电还少，不算突增，但明显高于前几天的预期。",
            "Too few calls to be a spike yet, but well above what the trailing days predict.",
            "",
        ]
        for story in emerging:
            lines += _emerging_section(story, timezone, span, quote)
    lines += [
        "## 全部话题与类别 · All topics and categories",
        "",
        _markdown_table(rows),
        "",
        "预期：前几天的平均（结合同一星期几）。得分：若无变化，出现这么多来电的概率的 -log10。"
        "例句中的个人信息已替换为 [phone]、[id_number]、[bank_card]、[email]、[address]；"
        "同音的误识别已按名称目录或规则的写法改正。时间为 " + timezone + "。",
        "",
        "Expected: the trailing days' mean (blended with the same weekday). Score: -log10 of the "
        "chance of this many calls or more if nothing had changed (Poisson, or negative binomial "
        "when the history swings). Personal data in the examples is replaced by [phone], "
        "[id_number], [bank_card], [email], [address]; misheard spellings of the same sound are "
        f"written as the catalogue or the rules write them. Times are {timezone}.",
        "",
    ]
    return "\n".join(lines)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _story_section(rank: int, story, timezone: str, span, names, quote) -> list[str]:
    row = story.row
    lines = [f"## {rank}. {story.title}{_names(row, names)}", ""]
    lines += _figures(row, timezone, span)
    if row.get("rule"):
        lines.append(f"- 规则 · rule: {_first_rule(row['rule'])}")
    elif row["categories"]:
        lines.append(f"- 规则类别 · rule categories: {', '.join(row['categories'])}")
    if row["terms"] and row["kind"] == "category":
        lines.append(f"- 提到 · mentions: {' · '.join(row['terms'])}")
    if story.aspects:
        lines.append(f"- 其中 · of these: {_aspects(story.aspects)}")
    if story.facets:
        lines += ["", "### 客户在说什么 · What customers say", ""]
        for facet in story.facets:
            lines.append(
                f"- **{facet.row['label']}**: {facet.shared} 通 · {facet.shared} "
                f"{_plural(facet.shared, 'call', 'calls')}"
                + (" (也是突增 · a spike too)" if facet.row["is_spike"] else "")
            )
            if facet.example:
                lines.append(f"  > {quote(facet.example, row, facet.row)}")
    if story.examples:
        lines += ["", "### 例句 · Examples", ""]
        lines += [f"> {quote(e, row)}\n" for e in story.examples]
    lines.append("")
    return lines


def _names(row: dict, names: dict[str, str | None]) -> str:
    """（星河九号 Galaxy Nine · 网上商城 online store）: the catalogue's names it mentions."""
    found = [n for n in row.get("catalogue_names") or [] if n not in row["label"]]
    shown = [f"{n} {names[n]}" if names.get(n) else n for n in found]
    return f"（{' · '.join(shown)}）" if shown else ""


def _first_rule(rule: str) -> str:
    """A category's first rule; the rest are counted (the Parquet has them all)."""
    first, *rest = rule.split("; or ")
    return first + (f"; 另有 {len(rest)} 条规则 · and {len(rest)} more" if rest else "")


def _aspects(aspects: list) -> str:
    """重复来电 / 多次反映 · repeat contact 6 (a spike today), ..."""
    return "; ".join(
        f"{a.row['label']} {a.shared}"
        + (" (今日突增 · a spike today)" if a.row["is_spike"] else "")
        for a in aspects
    )


def _emerging_section(story, timezone: str, span: tuple[int, int], quote) -> list[str]:
    row = story.row
    lines = [f"### {story.title}", ""]
    lines += _figures(row, timezone, span)
    if row.get("rule"):
        lines.append(f"- 规则 · rule: {_first_rule(row['rule'])}")
    facets = [f"{f.row['label']} ({f.shared})" for f in story.facets]
    if facets:
        lines.append(f"- 客户在说 · customers say: {'; '.join(facets)}")
    lines += [""] + [f"> {quote(e, row)}\n" for e in story.examples[:1]]
    return lines


def _figures(row: dict, timezone: str, span: tuple[int, int]) -> list[str]:
    n, expected = row["calls"], row["expected"] or 0.0
    ratio = row["ratio"] or 0.0
    lines = [
        f"- 来电 **{n} 通**，预期 {expected:.1f} 通（{ratio:.1f} 倍）· **{n} "
        f"{_plural(n, 'call', 'calls')}** against {expected:.1f} expected ({ratio:.1f}x, "
        f"score {row['score'] or 0.0:.1f}, {row['method']}, {row['baseline_days']} baseline days)"
    ]
    first, last = row.get("first_call_at"), row.get("last_call_at")
    if first is not None and last is not None:
        a, b = _clock(first, timezone), _clock(last, timezone)
        lines.append(f"- 首通 {a}，末通 {b} · first call {a}, last {b}")
    hours = row.get("calls_by_hour") or []
    if any(hours):
        peak = max(range(24), key=lambda h: (hours[h], -h))
        lines.append(
            f"- 每小时来电 · calls per hour {span[0]:02d}–{span[1] + 1:02d} 时: "
            f"`{sparkline(hours, span)}` 高峰 {peak:02d} 时 {hours[peak]} 通 · "
            f"peak {peak:02d}:00 with {hours[peak]} {_plural(hours[peak], 'call', 'calls')}"
        )
    lines.append(_shares(row))
    if row.get("queue_shares") or row.get("directions"):
        lines.append(_queues(row))
    if row["mean_sentiment"] is not None:
        risk = row["escalation_risk_calls"] or 0
        lines.append(
            f"- 客户情绪 {row['mean_sentiment']:+.1f}，{risk} 通有升级风险 · customer sentiment "
            f"{row['mean_sentiment']:+.1f} (-5..+5); {risk} {_plural(risk, 'call', 'calls')} at "
            "risk of escalation"
        )
    return lines


def _shares(row: dict) -> str:
    day_share = f"{100 * (row['share'] or 0.0):.0f}%"
    top = (row.get("queue_shares") or [None])[0]
    if not top:
        return f"- 占当天来电 {day_share} · {day_share} of the day's calls"
    queue_share = f"{100 * (top['share'] or 0.0):.0f}%"
    return (
        f"- 占当天来电 {day_share}，占 {top['queue']} 队列来电 {queue_share} · {day_share} of "
        f"the day's calls, {queue_share} of queue {top['queue']}'s calls"
    )


_DIRECTIONS = {"inbound": "呼入", "outbound": "呼出"}


def _queues(row: dict) -> str:
    queues = ", ".join(f"{q['queue']} {q['calls']}" for q in row.get("queue_shares") or [])
    directions = ", ".join(
        f"{_DIRECTIONS.get(d['direction'], '')} {d['direction']} {d['calls']}".strip()
        for d in row.get("directions") or []
        if d["direction"] != "-"
    )
    return f"- 队列 · queues: {queues or '-'}；方向 · direction: {directions or '-'}"


def _clock(value: dt.datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def _hour_span(day_hours: list[int] | None) -> tuple[int, int]:
    busy = [h for h, n in enumerate(day_hours or []) if n]
    return (min(busy), max(busy)) if busy else (8, 19)


def sparkline(hours: list[int], span: tuple[int, int]) -> str:
    """Calls per hour over `span` (first, last hour), one block each, scaled to the peak."""
    shown = hours[span[0] : span[1] + 1]
    top = max(shown, default=0)
    if not top:
        return " " * len(shown)
    steps = len(_SPARK)
    return "".join(" " if n == 0 else _SPARK[math.ceil(n * steps / top) - 1] for n in shown)


class _Quoter:
    """An example as quoted: heard spellings written as the rows name them, its call id, and
    where the console's address is set, a link to that moment of the call."""

    def __init__(self, day: dt.date, console_url: str | None):
        self.day, self.console_url = day, console_url

    def __call__(self, example: dict, *rows: dict) -> str:
        text = example["text"] or ""
        for row in rows:
            for variant in row.get("variants") or []:
                for heard in sorted(variant["heard"] or [], key=len, reverse=True):
                    text = text.replace(heard, variant["term"])
        quoted = f"{text} ({example['call_id']})"
        if self.console_url:
            link = self.console_url + call_url(example["call_id"], self.day, example["start_s"])
            quoted += f" [听 · listen]({link})"
        return quoted


def _markdown_table(rows: list[dict]) -> str:
    out = [
        "| | 部分 section | kind | label | calls | expected | ratio | score |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for row in story_order(rows):
        label = (row["label"] or "").replace("|", "/")
        section = _SECTION_NAMES.get(row.get("section") or "", "")
        if row.get("story_rank") and row.get("section") != "emerging":
            section += f" {row['story_rank']}"
        out.append(
            f"| {_flag(row)} | {section} | {row['kind']} | {label} | {row['calls']} | "
            f"{row['expected']:.1f} | {row['ratio']:.1f} | {row['score']:.1f} |"
        )
    return "\n".join(out)


def draw_chart(day: dt.date, rows: list[dict], path: Path) -> Path | None:
    """Horizontal bars: calls today against expected, spikes in red. None when no rows."""
    shown = rows[:CHART_ROWS]
    if not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from callscope.core.fonts import use_cjk_font

    use_cjk_font(matplotlib)
    cjk = _has_cjk_font()
    names = [_chart_name(r, cjk) for r in shown][::-1]
    observed = [r["calls"] for r in shown][::-1]
    expected = [r["expected"] for r in shown][::-1]
    colours = ["#c0392b" if r["is_spike"] else "#7f8c8d" for r in shown][::-1]
    figure, axis = plt.subplots(figsize=(9, 0.5 * len(shown) + 1.5))
    ys = range(len(shown))
    axis.barh(ys, observed, color=colours, height=0.6, label="calls")
    axis.scatter(expected, ys, marker="|", s=300, color="black", zorder=3, label="expected")
    axis.set_yticks(list(ys), names)
    axis.set_xlabel("calls")
    axis.set_title(f"Calls by topic and category on {day.isoformat()} (red: unusual)")
    axis.legend(loc="lower right")
    axis.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path


def _chart_name(row: dict, cjk: bool) -> str:
    label = row["label"] or row["incident_id"]
    if not cjk and not label.isascii():
        english = label.split("·")[-1].strip()
        label = english if english.isascii() and english else row["incident_id"]
        if row["kind"] == "topic" and row["categories"]:
            label = f"{row['topic_id']} ({', '.join(row['categories'][:2])})"
    return _short(label, 48)


def _has_cjk_font() -> bool:
    from matplotlib import font_manager

    names = {font.name for font in font_manager.fontManager.ttflist}
    return any("CJK" in name or "Hei" in name or "Fallback" in name for name in names)
