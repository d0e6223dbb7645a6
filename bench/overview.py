"""The overview's and the agent view's response times over a generated year of calls.

A warehouse of `--days` days is written through Warehouse.replace_day, each day with
`--calls` synthetic calls rows (the calls table's shape: queue, agent, categories, handle
time, silence, overtalk, interruptions, sentiment, escalation risk) over `--queues` queues,
`--agents` agents and `--categories` categories, so every day's summary has the group count a
full-size day has. Then, through the app's test client as a signed-in supervisor: the first
overview (it sums every day once), the first overview after a warm start (a second app,
started as a server starts: its background thread sums the days first; the time that took is
printed too), `--requests` overviews of the whole year with random
queue and category filters, and agent views, each timed (p50 / p95). Last, one real-size day
(`--real-calls`, 190,000 by default) is written, read and summed, and its summary's size is
compared with a generated day's: a request touches only summaries, so its time depends on
the groups a day has, not on the calls behind them.

    python bench/overview.py                       # 365 days x 4,000 calls, 190,000-call day
    python bench/overview.py --calls 190000        # the full size (69M rows: disk and hours)
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from callscope.core.config import load_config
from callscope.storage.warehouse import Warehouse
from callscope.web import overview as ov
from callscope.web.app import create_app
from callscope.web.auth import UserStore
from fastapi.testclient import TestClient

LAST = dt.date(2026, 11, 30)
PASSWORD = "bench overview password"


def calls_table(day: dt.date, n: int, args, rng: np.random.Generator) -> pa.Table:
    agents = rng.integers(0, args.agents, n)
    cats = rng.integers(0, args.categories, (n, 2))
    tagged = rng.integers(0, 3, n)  # 0, 1 or 2 categories a call
    categories = [
        [f"cat{c:02d}" for c in dict.fromkeys(row[:k])] for row, k in zip(cats, tagged, strict=True)
    ]

    def maybe(values: np.ndarray) -> pa.Array:
        return pa.array(values, mask=rng.random(n) < 0.05)

    return pa.table(
        {
            "call_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(n)],
            "status": ["ok"] * n,
            "queue": [f"q{a % args.queues:02d}" for a in agents],
            "agent_id": [f"A{a:04d}" for a in agents],
            "duration_s": maybe(rng.gamma(4, 80, n)),
            "silence_ratio": maybe(rng.uniform(0, 0.4, n).astype(np.float32)),
            "overtalk_s": maybe(rng.exponential(6, n)),
            "interruptions_agent": maybe(rng.poisson(1.5, n).astype(np.int32)),
            "interruptions_customer": maybe(rng.poisson(2, n).astype(np.int32)),
            "customer_sentiment": maybe(rng.normal(0, 2, n).astype(np.float32)),
            "customer_sentiment_start": maybe(rng.normal(-0.5, 2, n).astype(np.float32)),
            "customer_sentiment_end": maybe(rng.normal(0.3, 2, n).astype(np.float32)),
            "escalation_risk": maybe(rng.random(n) < 0.08),
            "categories": pa.array(categories, pa.list_(pa.string())),
        }
    )


def build(root: Path, args) -> tuple:
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    store = Warehouse(settings.warehouse)
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for n in range(args.days):
        day = LAST - dt.timedelta(days=args.days - 1 - n)
        store.replace_day("calls", day, calls_table(day, args.calls, args, rng))
    print(f"wrote {args.days} days x {args.calls:,} calls in {time.perf_counter() - started:.0f} s")
    UserStore(settings.web_dir / "users.json").add("supervisor", "supervisor", PASSWORD)
    return settings, store


def signed_in(settings) -> TestClient:
    app = create_app(settings, recordings=settings.recordings, secret=b"b" * 40)
    return sign_in(TestClient(app, follow_redirects=False))


def sign_in(client: TestClient) -> TestClient:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    form = {"name": "supervisor", "password": PASSWORD, "csrf": token, "next": ""}
    assert client.post("/login", data=form).status_code == 303
    return client


def timed(client: TestClient, url: str, params: dict) -> float:
    started = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text[:300]
    return elapsed


def report(name: str, times: list[float]) -> None:
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"{name}: n={len(times)} p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, "
          f"max {times[-1]:.0f} ms")  # fmt: skip


def requests(client: TestClient, args) -> None:
    year = {"from": (LAST - dt.timedelta(days=args.days - 1)).isoformat(), "to": LAST.isoformat()}
    print(
        f"first overview of the year (sums every day once): {timed(client, '/overview', year):.0f} ms"
    )
    rng = random.Random(2)
    pages, api, agents = [], [], []
    for _ in range(args.requests):
        params = dict(year)
        if rng.random() < 0.5:
            params["queue"] = f"q{rng.randrange(args.queues):02d}"
        if rng.random() < 0.5:
            params["category"] = f"cat{rng.randrange(args.categories):02d}"
        pages.append(timed(client, "/overview", params))
        api.append(timed(client, "/api/overview", params))
        agent = f"A{rng.randrange(args.agents):04d}"
        agents.append(timed(client, f"/agents/{agent}", year))
    report("overview page, a year", pages)
    report("overview API, a year", api)
    report("agent page, a year", agents)
    figures = client.get("/api/overview", params=year).json()["totals"]
    print(
        "year's figures:",
        {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
    )


def warm_start(settings, args) -> None:
    """A second app, started (its lifespan runs): the first overview once it has warmed."""
    app = create_app(settings, recordings=settings.recordings, secret=b"b" * 40)
    started = time.perf_counter()
    with TestClient(app, follow_redirects=False) as client:
        app.state.warmer.thread.join()
        warmed_s = time.perf_counter() - started
        sign_in(client)
        year = {
            "from": (LAST - dt.timedelta(days=args.days - 1)).isoformat(),
            "to": LAST.isoformat(),
        }
        first = timed(client, "/overview", year)
        assert client.get("/api/overview", params=year).json()["warm"] is True
    print(f"warm start: {args.days} days summed in the background in {warmed_s:.1f} s; "
          f"first overview of the year after it: {first:.0f} ms")  # fmt: skip


def real_day(root: Path, args) -> None:
    store = Warehouse(root / "real")
    table = calls_table(LAST, args.real_calls, args, np.random.default_rng(3))
    store.replace_day("calls", LAST, table)
    started = time.perf_counter()
    rows = store.read("calls", LAST, ov.READ)
    read_s = time.perf_counter() - started
    summary = ov.summarize(rows)
    total_s = time.perf_counter() - started
    sizes = {level: getattr(summary, level).num_rows for level in ov.LEVELS}
    small = ov.summarize(calls_table(LAST, args.calls, args, np.random.default_rng(4)))
    print(f"one real-size day ({args.real_calls:,} calls): read {read_s * 1000:.0f} ms, read and "
          f"summed {total_s * 1000:.0f} ms; summary rows {sizes}; a generated day's "
          f"{ {level: getattr(small, level).num_rows for level in ov.LEVELS} }")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--calls", type=int, default=4000, help="calls written a day")
    parser.add_argument("--queues", type=int, default=12)
    parser.add_argument("--agents", type=int, default=600)
    parser.add_argument("--categories", type=int, default=30)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--real-calls", type=int, default=190_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callscope-overview-") as folder:
        root = Path(folder)
        settings, _ = build(root, args)
        requests(signed_in(settings), args)
        warm_start(settings, args)
        real_day(root, args)


if __name__ == "__main__":
    main()
