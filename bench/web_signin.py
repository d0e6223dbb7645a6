"""Sign-in pressure against search: a signed-in supervisor's search p50 / p95 while another
client sends sign-in attempts, against the 300 ms target.

    python bench/web_signin.py [--segments 70000] [--attempts 300] [--keep DIR]

- Warehouse: bench/web.py's synthetic one (7,000 calls a day until --segments segments,
  categories, emotion and the search index); --keep DIR builds it there and reuses it.
- Server: `callscope serve` in its own process on 127.0.0.1 (one uvicorn worker), as in
  bench/web.py, with the default sign-in limits; then again with the per-client limit lifted
  (`web.login_client_attempts` = --attempts), so every attempt is a real scrypt check.
- Searcher: a supervisor signed in from 127.0.0.1, sequential /api/search requests with
  varied terms: --baseline of them alone, then as many as fit while the attack runs.
- Attacker: --attempts sign-ins with distinct names and wrong passwords from 127.0.0.2 (its
  sockets bound to that source address), --concurrency at a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from callscope.web.auth import UserStore  # noqa: E402

TARGET_MS = 300.0
SEARCHER = "bench-signin-supervisor"
ATTACKER_ADDRESS = "127.0.0.2"


def _web_bench():
    spec = importlib.util.spec_from_file_location("bench_web", ROOT / "bench" / "web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentiles(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]


def search_once(client: httpx.Client, term: str) -> float:
    started = time.perf_counter()
    response = client.get("/api/search", params={"q": term})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"search answered {response.status_code}: {response.text[:200]}")
    return elapsed


class Attack:
    """--attempts wrong sign-ins from ATTACKER_ADDRESS in `concurrency` threads."""

    def __init__(self, base: str, attempts: int, concurrency: int):
        self.base = base
        self.names = iter(f"sprayed-{n:04d}" for n in range(attempts))
        self.lock = threading.Lock()
        self.codes: Counter[int] = Counter()
        self.retry_after: set[str] = set()
        self.threads = [threading.Thread(target=self._run) for _ in range(concurrency)]
        self.started = self.ended = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(300)
        self.ended = time.perf_counter()

    def _next_name(self) -> str | None:
        with self.lock:
            return next(self.names, None)

    def _run(self) -> None:
        transport = httpx.HTTPTransport(local_address=ATTACKER_ADDRESS)
        with httpx.Client(base_url=self.base, transport=transport, timeout=60) as client:
            page = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            while (name := self._next_name()) is not None:
                data = {"name": name, "password": "wrong password", "csrf": token}
                response = client.post("/login", data=data)
                with self.lock:
                    self.codes[response.status_code] += 1
                    if "retry-after" in response.headers:
                        self.retry_after.add(response.headers["retry-after"])


def measure(server_base: str, args, terms: list[str], label: str) -> bool:
    web = _web_bench()
    searcher = web.sign_in(server_base, SEARCHER)
    for term in terms[:3]:
        search_once(searcher, term)  # warm the index connection and caches
    alone = [search_once(searcher, terms[i % len(terms)]) for i in range(args.baseline)]
    attack = Attack(server_base, args.attempts, args.concurrency)
    attack.start()
    during, i = [], 0
    while attack.running() and len(during) < args.max_searches:
        during.append(search_once(searcher, terms[i % len(terms)]))
        i += 1
    attack.join()
    searcher.close()
    seconds = attack.ended - attack.started
    print(f"\n{label}")
    print(f"{'':44} {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}  (ms)")
    for name, times in (("search API alone", alone), ("search API during the sign-ins", during)):
        p50, p95, worst = percentiles(times)
        print(f"{name:44} {len(times):5d} {p50:7.1f} {p95:7.1f} {worst:7.1f}")
    codes = ", ".join(f"{count} x {code}" for code, count in sorted(attack.codes.items()))
    waits = f"; Retry-After {', '.join(sorted(attack.retry_after))} s" if attack.retry_after else ""
    total = sum(attack.codes.values())
    print(
        f"sign-ins from {ATTACKER_ADDRESS}: {total} in {seconds:.1f} s "
        f"({total / seconds:.0f}/s): {codes}{waits}"
    )
    p95 = percentiles(during)[1]
    met = p95 <= TARGET_MS
    print(f"search p95 under sign-in pressure: {p95:.1f} ms: {'met' if met else 'NOT met'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=70_000)
    parser.add_argument("--attempts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--max-searches", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="build the warehouse here and reuse it")
    args = parser.parse_args()
    _check_loopback_alias()
    web = _web_bench()
    root = args.keep or Path(tempfile.mkdtemp(prefix="callscope-signin-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        warehouse = web.build(root, args.segments)
        return 0 if run(web, warehouse, args) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def run(web, warehouse: Path, args) -> bool:
    users = UserStore(warehouse / "web" / "users.json")
    users.add(SEARCHER, "supervisor", web.PASSWORD, replace=True)
    scenarios = [
        ("default sign-in limits", {}),
        (
            f"per-client limit lifted to {args.attempts}: every attempt is hashed",
            {"CALLSCOPE_WEB__LOGIN_CLIENT_ATTEMPTS": str(args.attempts)},
        ),
    ]
    results = []
    try:
        for label, env in scenarios:
            server = web.Server(warehouse, env)
            try:
                results.append(measure(server.base, args, web.TERMS, label))
            finally:
                server.stop()
    finally:
        users.remove(SEARCHER)
    return all(results)


def _check_loopback_alias() -> None:
    """127.0.0.2 is a loopback address on Linux; elsewhere it may need an alias."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((ATTACKER_ADDRESS, 0))
        except OSError as exc:
            raise SystemExit(f"cannot bind {ATTACKER_ADDRESS} ({exc}): add it to loopback") from exc


if __name__ == "__main__":
    sys.exit(main())
