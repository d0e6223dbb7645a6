"""The web console's exports: how long a CSV and an Excel file of a day's calls and of a search
take, through the real app as a signed-in supervisor.

A warehouse of `--days` consecutive days (ending on 2026-11-20) of `--calls` synthetic calls
each (Mandarin complaint sentences, a segment a turn; categories and the search index made by
the night's own steps, day by day) is written to a temporary folder. Then `--requests` exports
of each kind and format are timed end to end (the whole file received):
`/api/export/calls.csv|xlsx?date=<last day>` and `/api/export/search.csv|xlsx?q=<query>` (the
search over every day in the index). Each prints p50 / p95 ms, rows, bytes and rows/s (rows
over the p50); the last line is one JSON object with all of it.

    python bench/exports.py                         # one day of 5,000 calls, 10 requests each
    python bench/exports.py --calls 20000 --requests 20
    python bench/exports.py --days 365 --calls 5000 # the search export over a year's index
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

DAY = dt.date(2026, 11, 20)
PASSWORD = "bench exports password"
TERMS = ["退款", "投诉", "信号", "宽带", "流量", "话费", "套餐", "客服", "手机", "扣费", "网速"]
OPENINGS = ["我的", "这个月", "你们的", "为什么", "一直", "还是", "已经", "麻烦"]
ENDINGS = ["怎么回事", "没有解决", "帮我查一下", "我要投诉", "谢谢"]
QUEUES = ["billing", "broadband", "mobile", "preorder"]


def turns(rng: random.Random) -> list[tuple[str, str]]:
    return [
        (
            ("customer", "agent")[i % 2],
            rng.choice(OPENINGS) + rng.choice(TERMS) + rng.choice(ENDINGS),
        )
        for i in range(rng.randint(6, 14))
    ]


def build(root: Path, n_calls: int, n_days: int = 1):
    """The warehouse of `n_days` days ending on DAY, `n_calls` calls each, and its settings
    (search limits raised for the repeated runs)."""
    from callscope.core.config import load_config
    from callscope.keywords.index import open_index
    from callscope.web.auth import UserStore

    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    settings.web.search_per_minute = 10_000
    rng = random.Random(3)
    started = time.perf_counter()
    open_index(settings).close()
    n_segments = sum(
        write_day(settings, DAY - dt.timedelta(days=back), n_calls, rng)
        for back in reversed(range(n_days))
    )
    print(f"wrote {n_days:,} day(s) of {n_calls:,} calls ({n_segments:,} segments) with "
          f"categories and the search index in {time.perf_counter() - started:.0f} s")  # fmt: skip
    UserStore(settings.web_dir / "users.json").add("supervisor", "supervisor", PASSWORD)
    return settings


def write_day(settings, day: dt.date, n_calls: int, rng: random.Random) -> int:
    """One day's calls and segments, then its categories and search index; its segments."""
    from callscope.pipeline.steps import DayRunner
    from callscope.storage.schemas import to_table
    from callscope.storage.warehouse import Warehouse

    store = Warehouse(settings.warehouse)
    segments, calls = [], []
    for n in range(n_calls):
        call_id, t = f"{day:%Y%m%d}-{n:06d}", 0.0
        for i, (speaker, text) in enumerate(turns(rng)):
            length = max(1.0, len(text) / 4.5)
            segments.append({"call_id": call_id, "date": day, "idx": i, "start_s": t,
                             "end_s": t + length, "speaker": speaker, "text": text,
                             "text_redacted": text})  # fmt: skip
            t += length + 0.4
        started_at = dt.datetime.combine(day, dt.time(8), dt.UTC) + dt.timedelta(seconds=5 * n)
        calls.append({"call_id": call_id, "date": day, "status": "ok", "duration_s": t,
                      "started_at": started_at, "agent_id": f"A{rng.randrange(300):03d}",
                      "queue": rng.choice(QUEUES)})  # fmt: skip
    store.replace_day("segments", day, to_table("segments", segments))
    store.replace_day("calls", day, to_table("calls", calls))
    DayRunner(store, day, settings).run(only=["categories", "index"])
    return len(segments)


def signed_in(settings):
    from callscope.web.app import create_app
    from fastapi.testclient import TestClient

    app = create_app(settings, recordings=settings.recordings, secret=b"e" * 40)
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    form = {"name": "supervisor", "password": PASSWORD, "csrf": token, "next": ""}
    assert client.post("/login", data=form).status_code == 303
    return client


def percentile(times: list[float], share: float) -> float:
    times = sorted(times)
    return times[min(len(times) - 1, round(share * (len(times) - 1)))]


def measure(client, url: str, requests: int) -> dict:
    times, rows, size = [], 0, 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        body = response.content
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
        rows, size = int(response.headers["x-callscope-rows"]), len(body)
    p50 = statistics.median(times)
    return {"p50_ms": round(p50), "p95_ms": round(percentile(times, 0.95)), "rows": rows,
            "bytes": size, "rows_per_s": round(rows / (p50 / 1000)) if p50 else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls of each day")
    parser.add_argument("--days", type=int, default=1, help="consecutive days of calls")
    parser.add_argument("--requests", type=int, default=10, help="exports timed of each kind")
    parser.add_argument("--query", default="退款", help="the search exported")
    args = parser.parse_args()
    if args.days < 1:
        parser.error("--days must be at least 1")
    with tempfile.TemporaryDirectory(prefix="callscope-exports-") as folder:
        client = signed_in(build(Path(folder), args.calls, args.days))
        results = {}
        for kind, url in (("calls", f"/api/export/calls.{{fmt}}?date={DAY}"),
                          ("search", f"/api/export/search.{{fmt}}?q={args.query}")):  # fmt: skip
            for fmt in ("csv", "xlsx"):
                found = results[f"{kind}.{fmt}"] = measure(
                    client, url.format(fmt=fmt), args.requests
                )
                print(f"{kind}.{fmt}: n={args.requests} p50 {found['p50_ms']} ms, p95 "
                      f"{found['p95_ms']} ms, {found['rows']:,} rows, {found['bytes']:,} bytes, "
                      f"{found['rows_per_s']:,} rows/s")  # fmt: skip
    print(json.dumps({"days": args.days, "calls": args.calls, "requests": args.requests, "query": args.query,
                      "exports": results}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
