"""`callscope redact apply`: today's rules on a day stored by a night whose rules missed some
personal data, through the CLI, with incidents and hand-off rebuilt from the new text."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest
from callscope.core.config import load_config
from callscope.privacy.redact import REDACTION_VERSION, find_pii
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app
from tests.test_incidents import run_steps

DAY = dt.date(2026, 11, 18)
LEAKS = ["我的电话号码是135,975次，5890，麻烦回电。", "My number is 188, I'm 247, 2881."]


def stored_call(store: Warehouse, call_id: str, customer_says: str) -> None:
    turns = [
        ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
        ("customer", "我的宽带从昨天开始一直断网，" + customer_says),
        ("agent", "好的，已经为您登记，稍后处理。"),
    ]
    segments, start = [], 0.5
    for idx, (speaker, text) in enumerate(turns):
        end = start + 0.2 * len(text)
        segments.append(
            {"call_id": call_id, "date": DAY, "idx": idx, "speaker": speaker}
            | {"start_s": start, "end_s": end, "text": text, "language": "zh"}
            # an older night's rules that missed these numbers: stored as said
            | {"text_redacted": text}
        )
        start = end + 0.5
    row = {"call_id": call_id, "date": DAY, "status": "ok", "queue": "broadband"}
    row |= {"n_segments": len(segments), "language": "zh"}
    store.stage_call(DAY, row, segments)


@pytest.fixture
def leaky_day(tmp_path):
    store = Warehouse(tmp_path / "warehouse")
    for i, leak in enumerate(LEAKS):
        stored_call(store, f"c{i}", leak)
    stored_call(store, "c9", "路由器灯一直闪。")
    # the night of those rules: everything but redacting again
    run_steps(store, DAY, load_config(None), ("commit", "categories", "incidents"))
    return store


def statements(store: Warehouse) -> list[str]:
    return [row["statement"] or "" for row in store.read("call_issues", DAY).to_pylist()]


def redact_apply(store: Warehouse, *args: str):
    return CliRunner().invoke(
        app, ["redact", "apply", *args, "--warehouse", str(store.root)], catch_exceptions=False
    )


def test_stored_day_is_redacted_again_and_its_incidents_rebuilt(leaky_day):
    store = leaky_day
    before = store.read("segments", DAY)
    # the old night's leak, in the stored text and the issue statement built from it
    assert sum(bool(find_pii(text)) for text in before["text_redacted"].to_pylist()) == 2
    assert any("135" in text for text in statements(store))

    result = redact_apply(store, "--date", DAY.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["date"] == DAY.isoformat() and report["segments"] == 9
    assert report["calls"] == 3 and report["already_current"] == 0
    assert report["changed"] == 2 and report["incidents_rebuilt"] is True

    after = store.read("segments", DAY)
    assert after.num_rows == before.num_rows
    assert after["text"].to_pylist() == before["text"].to_pylist()  # what was said is kept
    redacted = after["text_redacted"].to_pylist()
    assert not any(find_pii(text) for text in redacted)
    assert sum("[phone]" in text for text in redacted) == 2
    assert [len(p or []) for p in after["pii"].to_pylist()].count(1) == 2
    assert not any("135" in text or find_pii(text) for text in statements(store))
    handoff = pq.read_table(store.root / "handoff" / DAY.isoformat() / "calls.parquet")
    assert not any(find_pii(text or "") for text in handoff["statement"].to_pylist())


def test_a_second_run_changes_nothing(leaky_day):
    store = leaky_day
    assert redact_apply(store, "--date", DAY.isoformat()).exit_code == 0
    segments = store.root / "segments" / f"date={DAY}" / "part-0.parquet"
    written = segments.stat().st_mtime_ns
    result = redact_apply(store, "--from", DAY.isoformat(), "--to", DAY.isoformat())
    assert result.exit_code == 0
    assert f"[1/1] {DAY}: all 3 calls already redacted with today's rules" in result.output
    assert "rebuilt" not in result.output
    assert segments.stat().st_mtime_ns == written


def test_which_days_must_be_said(leaky_day):
    result = redact_apply(leaky_day)
    assert result.exit_code == 2 and "--date D, or --from D" in result.output
    result = redact_apply(leaky_day, "--from", "2030-01-01")
    assert result.exit_code == 1 and "no days with calls" in result.output
    result = redact_apply(leaky_day, "--date", "2030-01-01")
    assert result.exit_code == 1 and "no calls for 2030-01-01" in result.output


def test_only_calls_not_stamped_with_todays_rules_are_redacted_again(leaky_day):
    store = leaky_day
    assert redact_apply(store, "--date", DAY.isoformat()).exit_code == 0
    stamps = store.read("calls", DAY, columns=["call_id", "redaction_version"]).to_pylist()
    assert {row["redaction_version"] for row in stamps} == {REDACTION_VERSION}
    # a late call of an older night's rules, committed into the redacted day
    stored_call(store, "c7", LEAKS[0])
    run_steps(store, DAY, load_config(None), ("commit",))
    result = redact_apply(store, "--date", DAY.isoformat(), "--json")
    (report,) = json.loads(result.stdout)
    assert (report["calls"], report["already_current"]) == (1, 3)
    assert (report["segments"], report["changed"]) == (3, 1)
    rows = store.read("segments", DAY).to_pylist()
    assert [(r["call_id"], r["idx"]) for r in rows] == sorted(
        (r["call_id"], r["idx"]) for r in rows
    )
    late = [r["text_redacted"] for r in rows if r["call_id"] == "c7"]
    assert len(late) == 3 and sum("[phone]" in text for text in late) == 1
    assert len(rows) == 12 and not any(find_pii(r["text_redacted"]) for r in rows)
