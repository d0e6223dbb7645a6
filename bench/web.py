"""The web app's speed: p50 / p95 of pages and API answers against the 300 ms target.

    python bench/web.py [--segments 1000000] [--requests 200] [--keep DIR] [--demo DIR]

- Warehouse: synthetic calls through the same code as bench/search.py (one segment per
  sentence of real complaint dialogues from ../shared/eval/text when present, else generated
  sentences), 7,000 calls a day until --segments segments; categories, emotion and the search
  index for every day, incidents for the last two days (the pages read one day at a time), and
  every call's recording pointing at one real file of synth/data. --keep DIR builds it there
  and reuses it on the next run.
- Server: `callscope serve` in its own process on a free loopback port (uvicorn, one worker),
  signed in as a supervisor and as a marketing user through the sign-in form.
- Measured: --requests sequential requests per kind, each varied (query, filters, call, day):
  pages and API answers for search with filters, a call, trends and their drill-down,
  incidents, a saved query's days, and 64 KiB audio range requests. Wall time per request as the
  client sees it, on this machine.
- Then the same on the demo warehouse (demo/warehouse, or --demo DIR) when it exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pyarrow as pa  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.keywords.index import SearchIndex, open_index  # noqa: E402
from callscope.pipeline.steps import DayRunner  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402
from callscope.synth.demoday import CLIPS  # noqa: E402
from callscope.web.auth import UserStore  # noqa: E402

TARGET_MS = 300.0
CALLS_PER_DAY = 7000
PASSWORD = "bench password"
AUDIO = CLIPS / "zh_preorder_call.flac"
TERMS = ["退款", "投诉", "信号", "宽带", "流量", "话费", "套餐", "客服", "手机", "扣费", "网速"]
TERMS += ["短信", "充值", "停机", "密码", "配送", "预约", "营业厅", "没有解决", "怎么回事"]
FIRST_DAY = dt.date(2026, 10, 1)


def _search_bench():
    spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench" / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conversations(bench_search) -> list[list[tuple[str, str]]]:
    eval_dir = bench_search.DEFAULT_EVAL
    if (eval_dir / "text" / "stc3_train_cn.json").is_file():
        convs = [t for d in bench_search.dialogues(eval_dir) if (t := bench_search.call_turns(d))]
        print(f"corpus: {len(convs)} real complaint dialogues from {eval_dir / 'text'}")
        return convs
    print("corpus: generated sentences (../shared/eval/text is not there)")
    rng = random.Random(5)
    parts = ["我的", "这个月", "你们的", "为什么", "一直", "还是", "已经", "麻烦"]
    ends = ["怎么回事", "没有解决", "帮我查一下", "我要投诉", "谢谢"]
    return [
        [
            (("customer", "agent")[i % 2], rng.choice(parts) + rng.choice(TERMS) + rng.choice(ends))
            for i in range(rng.randint(6, 16))
        ]
        for _ in range(2000)
    ]


def build(root: Path, n_segments: int) -> Path:
    """The big warehouse under root/warehouse (reused when root/READY exists)."""
    warehouse = root / "warehouse"
    if (root / "READY").exists():
        print(f"reusing {warehouse}")
        return warehouse
    shutil.rmtree(warehouse, ignore_errors=True)
    bench_search = _search_bench()
    convs = conversations(bench_search)
    per_call = statistics.mean(len(c) for c in convs)
    days = max(1, round(n_segments / (CALLS_PER_DAY * per_call)))
    settings = load_config(None, warehouse=warehouse)
    store = Warehouse(warehouse)
    index = open_index(settings)
    audio = root / "recording.flac"
    shutil.copy(AUDIO, audio)
    rng = random.Random(7)
    started, written = time.perf_counter(), 0
    for n in range(days):
        day = FIRST_DAY + dt.timedelta(days=n)
        written += bench_search.write_day(store, day, convs, CALLS_PER_DAY, rng)
        calls = store.read("calls", day)
        uri = pa.array([str(audio)] * calls.num_rows, pa.string())
        column = calls.schema.get_field_index("source_uri")
        store.replace_day("calls", day, calls.set_column(column, "source_uri", uri))
        steps = ["categories", "emotion", "index"] + (["incidents"] if n >= days - 2 else [])
        DayRunner(store, day, settings).run(only=steps)
        print(f"  {day}: {written:,} segments so far, {time.perf_counter() - started:.0f} s")
    index.optimize()
    index.close()
    (root / "READY").write_text(f"{written}\n")
    print(f"built {written:,} segments over {days} days in {time.perf_counter() - started:.0f} s")
    return warehouse


class Server:
    """`callscope serve` in a subprocess on a free loopback port."""

    def __init__(self, warehouse: Path, env: dict[str, str] | None = None):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        # the bench's one user searches far beyond a person's pace: the per-user search
        # limits (web.search_per_minute, web.search_at_once) are lifted, the rest kept
        lifted = {
            "CALLSCOPE_WEB__SEARCH_PER_MINUTE": "100000",
            "CALLSCOPE_WEB__SEARCH_AT_ONCE": "64",
        }
        secret = {"CALLSCOPE_SECRET_KEY": "bench-secret-" + "k" * 24}
        env = os.environ | secret | lifted | (env or {})
        command = [sys.executable, "-m", "callscope.cli", "serve", "--warehouse", str(warehouse)]
        self.process = subprocess.Popen(
            command + ["--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sign_in(base: str, name: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"name": name, "password": password, "csrf": token})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in as {name} failed: {response.status_code}")
    return client


def timed(client: httpx.Client, urls: list, headers=None) -> tuple[list[float], set[int]]:
    times, codes = [], set()
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        codes.add(response.status_code)
    return times, codes


def cases(client: httpx.Client, n: int, rng: random.Random) -> dict[str, tuple[list, dict]]:
    facets = client.get("/api/facets").json()
    days, queues = facets["days"], facets["queues"] or ["none"]
    agents = facets["agents"] or ["none"]
    categories = [c["name"] for c in facets["categories"]]
    calls = []
    for term in TERMS:
        calls += [
            (h["call_id"], h["date"], h["start_s"])
            for h in client.get("/api/search", params={"q": term, "limit": 50}).json()["hits"]
        ]
    rng.shuffle(calls)
    calls = (calls * (n // max(len(calls), 1) + 1))[:n]
    trend_days = client.get("/api/trends").json()["days"] or days
    incident_days = client.get("/api/incidents").json()["days"]

    def pick(values):
        return rng.choice(values)

    def search_query(i):
        span = sorted(pick(days) for _ in range(2))
        return {"q": TERMS[i % len(TERMS)], "from": span[0], "to": span[1], "queue": pick(queues)}

    out = {
        "search page, date + queue": [
            f"/search?{httpx.QueryParams(search_query(i))}" for i in range(n)
        ],
        "search API, no filter": [f"/api/search?q={TERMS[i % len(TERMS)]}" for i in range(n)],
        "search API, customer + category": [
            f"/api/search?{httpx.QueryParams({'q': TERMS[i % len(TERMS)], 'speaker': 'customer', 'category': pick(categories)})}"
            for i in range(n)
        ],
        "search API, agent": [
            f"/api/search?q={TERMS[i % len(TERMS)]}&agent={pick(agents)}" for i in range(n)
        ],
        "call page": [f"/calls/{c}?date={d}&t={t}" for c, d, t in calls],
        "call API (no date hint)": [f"/api/calls/{c}" for c, _, _ in calls],
        "trends page by queue": [
            f"/trends?by=queue&from={trend_days[0]}&to={pick(trend_days)}" for _ in range(n)
        ],
        "trends API by agent": [f"/api/trends?by=agent&to={pick(trend_days)}" for _ in range(n)],
        "trend drill-down page": [
            f"/trends/calls?date={pick(trend_days)}&by=queue&key={pick(queues)}" for _ in range(n)
        ],
        "incidents page": [f"/incidents?date={pick(incident_days)}" for _ in range(n)]
        if incident_days
        else [],
        "incidents API": [f"/api/incidents?date={pick(incident_days)}" for _ in range(n)]
        if incident_days
        else [],
    }
    token = client.get("/api/me").json()["csrf"]
    saved = client.post(
        "/api/saved",
        json={"name": "bench", "params": {"q": "投诉"}},
        headers={"X-CSRF-Token": token},
    ).json()
    out["saved query, 14 days"] = [f"/api/saved/{saved['id']}/calls" for _ in range(n)]
    return {name: (urls, {}) for name, urls in out.items()} | {
        "audio range 64 KiB": (
            [f"/api/calls/{c}/audio?date={d}" for c, d, _ in calls],
            {"ranges": True},
        )
    }


def run(warehouse: Path, n: int, label: str) -> list[tuple[str, float]]:
    """Measure every kind of request; the bench users and their saved query are removed
    afterwards."""
    users = UserStore(warehouse / "web" / "users.json")
    users.add("bench-supervisor", "supervisor", PASSWORD, replace=True)
    users.add("bench-marketing", "marketing", PASSWORD, replace=True)
    server = Server(warehouse)
    rng = random.Random(11)
    results = []
    try:
        client = sign_in(server.base, "bench-supervisor")
        marketing = sign_in(server.base, "bench-marketing")
        size = AUDIO.stat().st_size
        print(f"\n{label}: {n} requests per kind, sequential, p50 / p95 / max in ms")
        print(f"{'':36} {'p50':>7} {'p95':>7} {'max':>7}  status   target")
        chosen = cases(client, n, rng)
        chosen["marketing search API (redacted)"] = (
            [f"/api/search?q={TERMS[i % len(TERMS)]}" for i in range(n)],
            {"client": marketing},
        )
        for name, (urls, extra) in chosen.items():
            if not urls:
                print(f"{name:36} skipped: nothing to ask for")
                continue
            who = extra.get("client", client)
            if extra.get("ranges"):
                times, codes = [], set()
                for url in urls:
                    start = rng.randrange(0, size - 65536)
                    header = {"Range": f"bytes={start}-{start + 65535}"}
                    t, c = timed(who, [url], header)
                    times += t
                    codes |= c
            else:
                times, codes = timed(who, urls)
            p50, p95 = statistics.median(times), sorted(times)[int(0.95 * (len(times) - 1))]
            verdict = "met" if p95 <= TARGET_MS else "NOT met"
            status = ",".join(str(c) for c in sorted(codes))
            print(f"{name:36} {p50:7.1f} {p95:7.1f} {max(times):7.1f}  {status:8} {verdict}")
            results.append((name, p95))
    finally:
        server.stop()
        users.remove("bench-supervisor")
        users.remove("bench-marketing")
        _drop_saved(warehouse, "bench-supervisor")
    worst = max(results, key=lambda r: r[1]) if results else ("-", 0)
    print(f"worst p95: {worst[0]} {worst[1]:.1f} ms (target {TARGET_MS:.0f} ms)")
    return results


def _drop_saved(warehouse: Path, user: str) -> None:
    from callscope.web.saved import SavedQueries

    saved = SavedQueries(warehouse / "web" / "saved_queries.json")
    for query in saved.list(user):
        saved.delete(user, query["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build the big warehouse here and reuse it")
    parser.add_argument("--demo", type=Path, default=ROOT / "demo" / "warehouse")
    parser.add_argument("--skip-big", action="store_true", help="only the demo warehouse")
    args = parser.parse_args()
    if not args.skip_big:
        root = args.keep or Path(tempfile.mkdtemp(prefix="callscope-web-bench-"))
        root.mkdir(parents=True, exist_ok=True)
        try:
            warehouse = build(root, args.segments)
            indexed = SearchIndex(warehouse / "search", create=False).indexed_days()
            label = f"{sum(indexed.values()):,} segments over {len(indexed)} days"
            run(warehouse, args.requests, label)
        finally:
            if args.keep is None:
                shutil.rmtree(root, ignore_errors=True)
    if (args.demo / "calls").is_dir() and (args.demo / "search").is_dir():
        run(args.demo, args.requests, f"demo warehouse {args.demo}")
    else:
        print(f"\ndemo warehouse: skipped ({args.demo} has no calls or index; run `make demo`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
