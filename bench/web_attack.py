"""Bounded attacks on the web app, while a normal signed-in user searches; stops by itself.

    python bench/web_attack.py [--warehouse DIR] [--stall-ms 2000] [--keep DIR]

- Warehouse: the web tests' one (tests/web_support.py: nine days of calls, the search index,
  real recordings; about 15 s to build in a temporary folder, or under --keep DIR and reused),
  or an existing one with --warehouse DIR (e.g. bench/web.py --keep DIR's big one). The
  script's users are added to it and removed again.
- Server: `callscope serve` in its own process on 127.0.0.1 (one uvicorn worker) with its
  default limits, 127.0.0.0/8 as the trusted proxy (so X-Forwarded-For names the client) and
  a request head timeout of --head-timeout seconds (default 3, 0: web.request_head_timeout_s).
- Normal user: a separate process, a signed-in supervisor searching /api/search every 0.25 s
  (round robin over six such users, 40 searches a minute each, under the per-user limit);
  its p50 / p95 / max before the attacks and during each.
- Attacks, each bounded in count and time (4-15 s): oversized bodies (declared, chunked;
  signed out and signed in), the sign-in page fetched 16 at a time (the control: what any
  cheap request costs at that rate), a sign-in flood from 300 X-Forwarded-For addresses (16
  at a time), 8 users running heavy queries from 2 threads each, malformed requests over raw
  sockets, and 50 slow-loris connections (a request head sent a byte a second).
- Exit status 1 when any answer was a 500, the server died or stopped answering, or a normal
  user's search failed or took longer than --stall-ms; else 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.web import sign_in  # noqa: E402

PASSWORD = "attack bench password"
PROBES = [f"attack-probe-{n}" for n in range(6)]
HEAVY = [f"attack-heavy-{n}" for n in range(8)]
PROBE_EVERY_S = 0.25
TERMS = ["退款", "手机", "号码", "处理", "登记", "服务", "麻烦", "说法", "预约", "宽带", "账单"]
HEAVY_QUERY = " OR ".join(TERMS + ["您好", "请问", "帮您", "就是", "这个", "已经", "稍后"])
CHUNK = 64 * 1024


# the server --------------------------------------------------------------------------------
class Server:
    """`callscope serve` in a subprocess on a free loopback port, its log in a file."""

    def __init__(self, warehouse: Path, recordings: Path | None, head_timeout_s: float, log: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = os.environ | {
            "CALLSCOPE_SECRET_KEY": "attack-secret-" + "k" * 24,
            "CALLSCOPE_WEB__TRUSTED_PROXIES": '["127.0.0.0/8"]',
        }
        if head_timeout_s > 0:
            env["CALLSCOPE_WEB__REQUEST_HEAD_TIMEOUT_S"] = str(head_timeout_s)
        command = [sys.executable, "-m", "callscope.cli", "serve", "--warehouse", str(warehouse)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--recordings", str(recordings)] if recordings else []
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self.base = f"http://127.0.0.1:{self.port}"
        if not self.answers(timeout_s=60):
            self.stop()
            raise RuntimeError(f"the server did not start; its log: {log}")

    def answers(self, timeout_s: float = 10) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.2)
        return False

    def alive(self) -> bool:
        return self.process.poll() is None and self.answers(timeout_s=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_lines(self, word: str) -> int:
        return sum(word in line for line in self.log.read_text(errors="replace").splitlines())


# the normal user ---------------------------------------------------------------------------
def probe(base: str, cookies: list[str], stop, samples, seconds: float) -> None:
    """In its own process: one search every PROBE_EVERY_S, round robin over the sessions,
    until `stop` is set or `seconds` passed; (start, ms, status) for each into `samples`."""
    clients = [
        httpx.Client(base_url=base, timeout=10, cookies={"callscope_session": cookie})
        for cookie in cookies
    ]
    deadline, n = time.monotonic() + seconds, 0
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            status = clients[n % len(clients)].get("/api/search", params={"q": TERMS[n % 11]})
            code = status.status_code
        except httpx.HTTPError:
            code = 0  # no answer within 10 s, or the connection failed
        samples.put((started, (time.monotonic() - started) * 1000, code))
        n += 1
        stop.wait(max(0.0, PROBE_EVERY_S - (time.monotonic() - started)))
    for client in clients:
        client.close()


@dataclass
class Probe:
    process: multiprocessing.Process
    stop: object
    queue: object
    samples: list = field(default_factory=list)

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        self.drain()
        return [s for s in self.samples if start <= s[0] < end]

    def drain(self) -> None:
        while not self.queue.empty():
            self.samples.append(self.queue.get())


def start_probe(base: str, cookies: list[str], seconds: float) -> Probe:
    context = multiprocessing.get_context("spawn")
    stop, queue = context.Event(), context.Queue()
    process = context.Process(target=probe, args=(base, cookies, stop, queue, seconds))
    process.start()
    return Probe(process, stop, queue)


# attacks -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one attack got back: status counts (0: no answer) and notes."""

    codes: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, code: int) -> None:
        with self.lock:
            self.codes[code] += 1


def raw(port: int, data: bytes, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """Send `data` on a new connection; the answer's status (0: none) and head."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server answered and closed while we were still sending
        return read_head(sock)


def read_head(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except OSError:
        pass
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return (int(match.group(1)) if match else 0), data.split(b"\r\n\r\n")[0]


def oversized_bodies(server: Server, signed: httpx.Client, seconds: float = 4) -> Outcome:
    """Rounds of 40 requests whose body passes the 64 KiB bound, for `seconds` or 60 rounds:
    declared 50 MB (64 KiB of it sent) and chunked up to 2 MiB, signed out (/login) and
    signed in (/api/saved with the CSRF token)."""
    out = Outcome()
    cookie = signed.cookies["callscope_session"]
    token = signed.get("/api/me").json()["csrf"]
    signed_in = f"Cookie: callscope_session={cookie}\r\nX-CSRF-Token: {token}\r\n"
    deadline = time.monotonic() + seconds
    for _ in range(60):
        for n in range(40):
            path, extra = ("/login", "") if n % 2 else ("/api/saved", signed_in)
            kind = "application/json" if extra else "application/x-www-form-urlencoded"
            head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n{extra}"
            if n < 20:
                data = (head + "Content-Length: 50000000\r\n\r\n").encode() + b"a" * CHUNK
                code, answer = raw(server.port, data)
            else:
                code, answer = chunked(server.port, head + "Transfer-Encoding: chunked\r\n\r\n")
            out.add(code)
            if code and b"content-security-policy" not in answer.lower():
                out.notes.append(f"a {code} without the security headers")
        if time.monotonic() >= deadline:
            break
    out.notes = sorted(set(out.notes))
    return out


def chunked(port: int, head: str) -> tuple[int, bytes]:
    chunk = f"{CHUNK:x}\r\n".encode() + b"a" * CHUNK + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(32):  # 2 MiB at most
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        return read_head(sock)


def sign_in_flood(
    server: Server, addresses: int = 300, seconds: float = 10, most: int = 6000, threads: int = 16
) -> Outcome:
    """Wrong sign-ins, each with a name of its own, from `addresses` X-Forwarded-For
    addresses in turn (each under the per-client limit), `threads` at a time, for `seconds`
    or `most` attempts."""
    out = Outcome()
    sources = ((n, f"10.0.{n % addresses // 200}.{n % addresses % 200 + 1}") for n in range(most))
    lock, deadline = threading.Lock(), time.monotonic() + seconds

    def work() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
            while time.monotonic() < deadline:
                with lock:
                    source = next(sources, None)
                if source is None:
                    return
                n, address = source
                data = {"name": f"nobody-{n}", "password": "wrong password", "csrf": token}
                try:
                    headers = {"X-Forwarded-For": address}
                    out.add(client.post("/login", data=data, headers=headers).status_code)
                except httpx.HTTPError:
                    out.add(0)

    run_threads(work, threads)
    return out


def page_flood(server: Server, seconds: float = 5, most: int = 3000, threads: int = 16) -> Outcome:
    """The control for the sign-in flood: the sign-in page fetched by `threads` at a time,
    for `seconds` or `most` requests (what any cheap request at that rate costs)."""
    out = Outcome()
    lock, deadline, left = threading.Lock(), time.monotonic() + seconds, [most]

    def work() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            while time.monotonic() < deadline:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                try:
                    out.add(client.get("/login").status_code)
                except httpx.HTTPError:
                    out.add(0)

    run_threads(work, threads)
    return out


def heavy_searches(server: Server, users: list[httpx.Client], seconds: float = 15) -> Outcome:
    """Every user runs the heaviest search there is (a long OR of common words, newest first,
    100 hits) from 2 threads at once, for `seconds` or 60 searches per thread."""
    out = Outcome()
    deadline = time.monotonic() + seconds
    params = {"q": HEAVY_QUERY, "sort": "newest", "limit": 100}

    def work(client: httpx.Client) -> Callable[[], None]:
        def loop() -> None:
            for _ in range(60):
                if time.monotonic() >= deadline:
                    return
                try:
                    out.add(client.get("/api/search", params=params).status_code)
                except httpx.HTTPError:
                    out.add(0)

        return loop

    threads = [threading.Thread(target=work(c)) for c in users for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return out


MALFORMED = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "no Host": b"GET / HTTP/1.1\r\n\r\n",
    "Content-Length 12abc": b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
    "Content-Length -1": b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two Content-Lengths": b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\nabcdef",
    "NUL in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x00: y\r\n\r\n",
    "control byte in the path": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "folded header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "70 KB header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "TLS hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad chunk size": b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    "non-ASCII header value": "GET /api/me HTTP/1.1\r\nHost: x\r\nX-Name: 你好\r\n\r\n".encode(),
    "non-ASCII cookie": "GET /search HTTP/1.1\r\nHost: x\r\nCookie: callscope_session=é\r\n\r\n".encode(),
    "non-ASCII X-Forwarded-For": "POST /login HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 你好\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=a".encode(),
    "absolute URL": b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
}


def malformed(server: Server, seconds: float = 4, most_rounds: int = 200) -> Outcome:
    """Rounds of every malformed request of MALFORMED over raw sockets, for `seconds` or
    `most_rounds`; every answer must carry the security headers."""
    out = Outcome()
    deadline = time.monotonic() + seconds
    for _ in range(most_rounds):
        for name, data in MALFORMED.items():
            try:
                code, head = raw(server.port, data)
            except OSError as exc:
                code, head = 0, b""
                out.notes.append(f"{name}: {exc}")
            out.add(code)
            if code and b"content-security-policy" not in head.lower():
                out.notes.append(f"{name}: a {code} without the security headers")
        if time.monotonic() >= deadline:
            break
    out.notes = sorted(set(out.notes))
    return out


def slow_loris(server: Server, connections: int = 50, seconds: float = 8) -> Outcome:
    """`connections` sockets that send a request head a byte a second; each closed by us
    after `seconds` at most, unless the server closed it first."""
    out = Outcome()
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    socks = [
        socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(connections)
    ]
    closed_at: dict[int, float] = {}
    started = time.monotonic()
    try:
        for second in range(int(seconds)):
            for n, sock in enumerate(socks):
                if n in closed_at:
                    continue
                try:
                    sock.sendall(head[second : second + 1])
                    sock.setblocking(False)
                    try:
                        if sock.recv(1) == b"":
                            closed_at[n] = time.monotonic() - started
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
                except OSError:
                    closed_at[n] = time.monotonic() - started
            time.sleep(1)
    finally:
        for sock in socks:
            sock.close()
    out.codes["closed by the server"] = len(closed_at)
    out.codes["held to the end"] = connections - len(closed_at)
    if closed_at:
        out.notes.append(
            f"{len(closed_at)} of {connections} closed by the server, after "
            f"{min(closed_at.values()):.1f}-{max(closed_at.values()):.1f} s"
        )
    return out


def run_threads(work: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


# the report --------------------------------------------------------------------------------
def latency(samples: list[tuple[float, float, int]]) -> str:
    """p50 / p95 / max of the samples' times in ms, or dashes when there are none."""
    if not samples:
        return f"{'-':>6} {'-':>6} {'-':>6}"
    times = sorted(ms for _, ms, _ in samples)
    p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
    return f"{p50:6.0f} {p95:6.0f} {times[-1]:6.0f}"


def worst_ms(samples: list[tuple[float, float, int]]) -> float:
    return max((ms for _, ms, _ in samples), default=0.0)


def codes_text(codes: Counter) -> str:
    return ", ".join(f"{count} x {code}" for code, count in sorted(codes.items(), key=str)) or "-"


@dataclass
class Row:
    name: str
    outcome: Outcome
    samples: list
    alive: bool
    seconds: float


def report(rows: list[Row], baseline: list, stall_ms: float, server: Server) -> bool:
    print(
        f"\n{'attack':22} {'requests':>8} {'s':>5} {'n':>4} {'p50':>6} {'p95':>6} {'max':>6} "
        f"{'500s':>4}  server  answers (0: none)"
    )
    print(f"{'none (before)':22} {0:8d} {'':5} {len(baseline):4d} {latency(baseline)}")
    ok = True
    for row in rows:
        refused = [code for _, _, code in row.samples if code != 200]
        errors = row.outcome.codes.get(500, 0) + refused.count(500)
        total = sum(row.outcome.codes.values())
        print(
            f"{row.name:22} {total:8d} {row.seconds:5.1f} {len(row.samples):4d} "
            f"{latency(row.samples)} {errors:4d}  {'alive' if row.alive else 'DEAD':6}  "
            f"{codes_text(row.outcome.codes)}"
        )
        for note in row.outcome.notes[:8]:
            print(f"{'':24}- {note}")
        if refused:
            print(f"{'':24}- the normal user's search answered {codes_text(Counter(refused))}")
        ok &= row.alive and not errors and not refused and worst_ms(row.samples) <= stall_ms
    print(
        "(n, p50, p95, max: the normal user's searches during the attack, ms; a line with no "
        "search was over between two of them)"
    )
    print(
        f"\nserver log: {server.log_lines('Traceback')} tracebacks, "
        f"{server.log_lines('ERROR')} ERROR lines, {server.log_lines('WARNING')} WARNING lines"
    )
    print(
        f"verdict: {'passed' if ok else 'FAILED'} (no 500, the server alive, the normal user's "
        f"searches all answered 200 within {stall_ms:.0f} ms)"
    )
    return ok


# main --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, help="attack this warehouse instead")
    parser.add_argument("--recordings", type=Path, help="its recordings folder")
    parser.add_argument("--keep", type=Path, help="build the test warehouse here and reuse it")
    parser.add_argument("--stall-ms", type=float, default=2000.0)
    parser.add_argument(
        "--head-timeout", type=float, default=3.0, help="seconds; 0: the server's own setting"
    )
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="callscope-attack-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        warehouse, recordings = args.warehouse, args.recordings
        if warehouse is None:
            warehouse, recordings = web_tests_warehouse(root)
        return 0 if attack(warehouse, recordings, args, root / "server.log") else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def web_tests_warehouse(root: Path) -> tuple[Path, Path]:
    if (root / "READY").exists():
        print(f"reusing {root / 'warehouse'}")
        return root / "warehouse", root / "recordings"
    from tests.web_support import build

    started = time.monotonic()
    built = build(root)
    (root / "READY").write_text("ok\n")
    print(f"built the web tests' warehouse in {time.monotonic() - started:.0f} s")
    return built.settings.warehouse, built.recordings


def attack(warehouse: Path, recordings: Path | None, args, log: Path) -> bool:
    from callscope.web.auth import UserStore

    users = UserStore(warehouse / "web" / "users.json")
    for name in PROBES + HEAVY:
        users.add(name, "supervisor", PASSWORD, replace=True)
    server = Server(warehouse, recordings, args.head_timeout, log)
    try:
        return run_attacks(server, args.stall_ms)
    finally:
        server.stop()
        for name in PROBES + HEAVY:
            users.remove(name)


def run_attacks(server: Server, stall_ms: float) -> bool:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} before the attacks")
    probes = [sign_in(server.base, name, PASSWORD) for name in PROBES]
    heavy = [sign_in(server.base, name, PASSWORD) for name in HEAVY]
    probe = start_probe(server.base, [c.cookies["callscope_session"] for c in probes], 240)
    try:
        time.sleep(1.0)  # the probe process starts, its first searches warm the index
        start = time.monotonic()
        time.sleep(6)
        baseline = probe.between(start, time.monotonic())
        attacks = [
            ("oversized bodies", lambda: oversized_bodies(server, heavy[0])),
            ("sign-in page flood", lambda: page_flood(server)),
            ("sign-in flood", lambda: sign_in_flood(server)),
            ("8 users heavy search", lambda: heavy_searches(server, heavy)),
            ("malformed requests", lambda: malformed(server)),
            ("slow-loris x 50", lambda: slow_loris(server)),
        ]
        rows = []
        for name, run in attacks:
            print(f"attack: {name} ...", flush=True)
            start = time.monotonic()
            try:
                outcome = run()
            except (OSError, httpx.HTTPError) as exc:  # the server refused connections
                outcome = Outcome(notes=[f"the attack stopped: {exc}"])
            end = time.monotonic()
            time.sleep(PROBE_EVERY_S * 2)
            alive = server.alive()
            rows.append(Row(name, outcome, probe.between(start, end), alive, end - start))
            if not alive:
                break
            time.sleep(1.0)
    finally:
        probe.stop.set()
        probe.process.join(15)
        for client in probes + heavy:
            client.close()
    return report(rows, baseline, stall_ms, server)


if __name__ == "__main__":
    sys.exit(main())
