"""Incidents as people read them: JSON-ready rows, a terminal table, a Markdown summary and a
chart of observed against expected calls."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa

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
        rows.append(out)
    return sorted(rows, key=lambda r: (not r["is_spike"], -(r["score"] or 0), -r["calls"]))


def _flag(row: dict) -> str:
    if row["is_spike"]:
        return "SPIKE"
    return "warm-up" if row["method"] == "warm-up" else ""


def render_table(rows: list[dict], limit: int | None = None) -> str:
    if not rows:
        return "no incidents (no calls with an issue statement that day)"
    lines = [
        f"{'':6} {'kind':8} {'calls':>5} {'expected':>8} {'ratio':>6} {'score':>6}  label",
    ]
    for row in rows[:limit]:
        lines.append(
            f"{_flag(row):6} {row['kind']:8} {row['calls']:>5} {row['expected']:>8.1f} "
            f"{row['ratio']:>6.1f} {row['score']:>6.1f}  {row['label']}"
        )
        if row["is_spike"]:
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


def markdown(day: dt.date, rows: list[dict], calls: int, chart: str | None) -> str:
    spikes = [r for r in rows if r["is_spike"]]
    lines = [
        f"# Incidents on {day.isoformat()}",
        "",
        f"{calls} calls analysed; {len(spikes)} unusual "
        f"{'topic' if len(spikes) == 1 else 'topics'} against the trailing days.",
        "",
    ]
    if any(r["method"] == "warm-up" for r in rows):
        lines += ["Too few earlier days have been processed to judge what is unusual yet.", ""]
    if chart:
        lines += [f"![calls against expected]({chart})", ""]
    for row in spikes:
        lines += _spike_section(row)
    lines += ["## All topics and categories", "", _markdown_table(rows), ""]
    lines += [
        "Expected: the trailing days' mean (blended with the same weekday). Score: -log10 of the "
        "chance of this many calls or more if nothing had changed (Poisson, or negative binomial "
        "when the history swings). Personal data in the examples is replaced by [phone], "
        "[id_number], [bank_card], [email], [address].",
        "",
    ]
    return "\n".join(lines)


def _spike_section(row: dict) -> list[str]:
    categories = ", ".join(row["categories"] or []) or "none"
    lines = [
        f"## {row['label']}",
        "",
        f"- **{row['calls']} calls** against {row['expected']:.1f} expected "
        f"({row['ratio']:.1f}x, score {row['score']:.1f}, {row['method']}, "
        f"{row['baseline_days']} baseline days)",
        f"- rule categories: {categories}; queues: {', '.join(row['queues'] or []) or '-'}",
    ]
    if row["terms"]:
        lines.append(f"- what the calls say: {_terms(row)}")
    if row.get("variants"):
        lines.append("- spellings in brackets are other transcriptions of the same sound, merged")
    if row["mean_sentiment"] is not None:
        lines.append(
            f"- customer sentiment {row['mean_sentiment']:+.1f}; "
            f"{row['escalation_risk_calls']} calls at risk of escalation"
        )
    lines += ["", "Examples:", ""]
    lines += [f"> {e['text']} ({e['call_id']})" + "\n" for e in row["examples"]]
    return lines


def _markdown_table(rows: list[dict]) -> str:
    out = [
        "| | kind | label | calls | expected | ratio | score |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        label = (row["label"] or "").replace("|", "/")
        out.append(
            f"| {_flag(row)} | {row['kind']} | {label} | {row['calls']} | "
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
