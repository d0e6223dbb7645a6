"""Attacks on a search shard host (`callscope index serve`, keywords/remote.py ShardHost).

    timeout 600 .venv/bin/python bench/shard_host_attack.py

Builds a small index in a temporary folder (one big September shard: 20,000 calls of 8 turns,
every turn saying 您好, so that a whole page is ~6.7 MB; two small October days), starts
`callscope index serve --port 0` on 127.0.0.1 in its own process (token in
$CALLSCOPE_SHARD_TOKEN; search.shard_host_connections 8 and search.shard_host_timeout_s 2 in
its config), measures a normal client's `count` before the attacks, then runs each attack
while a normal client keeps asking the same `count` in a thread:

  1  huge numbers       limit 10**10, offset 10**12, cap -1, context 10**6 and their kin
  2  50 MB bodies       Content-Length 50 MB without, with and with a wrong token: headers and
                        a few bytes, then the answer read (or the connection closed at once)
  3  stalled            100 connections sending half a request line, then nothing (beyond the
                        8 served at once); each closed by the host, or by the script 4.5 s
                        after the last was opened
  3b trickled head      10 connections sending their request head a byte every 0.5 s (each
                        byte well within the timeout), for at most 8 s
  3c trickled body      the same with a valid head and the body a byte every 0.5 s
  4  malformed          bad JSON, "[" * 100000, non-ASCII headers, bad and duplicate
                        Content-Length, garbage request lines, unknown paths and methods, wrong
                        tokens, odd query texts
  5  slow readers       4 clients ask a 6.7 MB page and read it 1 KiB per 50 ms (receive
                        buffer 4 KiB) for at most 5 s: the index lock must not be held while
                        the host writes, and it gives up writing after its timeout
  6  flood              200 valid requests from 32 threads at once

The normal client waits out a 503 "busy" (connections beyond the limit) by asking again every
50 ms; its latency is from its first try to its answer. The table shows, per attack, what the
attack got back, the normal client's p50 / p95 / max latency, any 5xx other than the 503 for
connections beyond the limit (http.server's 501 for a method it does not know and 505 for
"HTTP/9.9" are HTTP's own answers and are not counted), tracebacks in the host's log and
whether the host is still running.

Exit status 0 only if no request got a 500 or another unexpected 5xx, the host logged no
traceback, every normal answer was right, the host runs at the end, and the normal client's max latency stayed under
shard_host_timeout_s + 1.5 s in every attack. Everything talks to 127.0.0.1 only; the script
stops itself after 170 s whatever happens and ends the host it started.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.keywords.index import SearchIndex  # noqa: E402
from callscope.keywords.remote import ROWS_MAX, TOKEN_ENV, filters_to_json  # noqa: E402
from callscope.keywords.shard import SearchFilters  # noqa: E402
from callscope.pipeline.steps import DayRunner  # noqa: E402
from callscope.storage.warehouse import Warehouse  # noqa: E402

from tests.test_search_shards import DAYS, TURNS  # noqa: E402

TOKEN = "bench-" + secrets.token_hex(16)
CONNECTIONS = 8  # search.shard_host_connections
HOST_TIMEOUT_S = 2.0  # search.shard_host_timeout_s
MARGIN_S = 1.5
BOUND_S = HOST_TIMEOUT_S + MARGIN_S  # the normal client's max latency in every attack
WALL_S = 170.0  # the whole script, host included
QUERY = "您好"  # said in every turn
BIG_CALLS = 20_000  # calls of the big day (8 turns each): a whole page is ~6.7 MB, more
# than the kernel buffers of a connection hold (net.ipv4.tcp_wmem max 4 MB), so that the
# host's write to a slow reader blocks
SMALL_CALLS = 6
BASELINE = 20
BUSY = "503 busy"  # the answer to a connection beyond the limit
# HTTP's own answers of http.server to a method it does not know and to "HTTP/9.9"
PROTOCOL_5XX = ("501", "505")


def listen_drops() -> int | None:
    """The kernel's count of connections dropped at a full listen queue (TcpExt ListenDrops of
    /proc/net/netstat, the whole machine's); None where there is no such file."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(counters["ListenDrops"]) if "ListenDrops" in counters else None
    return None


# the host's process: `callscope index serve`, ending itself should this script die unawares
HOST_COMMAND = """
import os, threading, time
parent = os.getppid()
def orphaned():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
threading.Thread(target=orphaned, daemon=True).start()
from callscope.cli import app
app()
"""


# the index and the host -----------------------------------------------------------------------
def build_index(folder: Path) -> tuple[str, int]:
    """A warehouse and its index under `folder`: (key of the big shard, segments in it)."""
    settings = load_config(None, warehouse=folder / "warehouse")
    settings.search.index = folder / "host" / "search"
    store = Warehouse(settings.warehouse)
    for day, count in ((DAYS[0], BIG_CALLS), (DAYS[1], SMALL_CALLS), (DAYS[2], SMALL_CALLS)):
        calls = []
        for n in range(count):
            call_id = f"{day:%m%d}-{n}"
            segments = [
                {
                    "call_id": call_id,
                    "date": day,
                    "idx": i,
                    "start_s": 4.0 * i,
                    "end_s": 4.0 * i + 3.5,
                    "channel": 0 if who == "agent" else 1,
                    "speaker": who,
                    "text": text if text.startswith(QUERY) else f"{QUERY}，{text}",
                    "overlap": False,
                }
                for i, (who, text) in enumerate(TURNS)
            ]
            row = {
                "call_id": call_id,
                "date": day,
                "status": "ok",
                "agent_id": f"A{n % 4}",
                "queue": "general",
                "duration_s": 4.0 * len(TURNS),
            }
            calls.append((row, segments))
        store.stage_calls(day, calls)
        DayRunner(store, day, settings).run(only=("commit", "index"))  # as a night does
    index = SearchIndex(settings.search_index, create=False)
    try:
        return index.key_of(DAYS[0]), BIG_CALLS * len(TURNS)
    finally:
        index.close()


class Host:
    """`callscope index serve` in its own process; its stdout and stderr go to files."""

    def __init__(self, folder: Path):
        config = folder / "host.yaml"
        search = {
            "shard_host_connections": CONNECTIONS,
            "shard_host_timeout_s": HOST_TIMEOUT_S,
        }
        config.write_text(yaml.safe_dump({"warehouse": str(folder / "host"), "search": search}))
        self.out_path, self.log_path = folder / "host.out", folder / "host.log"
        env = dict(os.environ)
        env |= {
            TOKEN_ENV: TOKEN,
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "PREFECT_HOME": str(folder / "prefect"),
        }
        command = HOST_COMMAND
        with open(self.out_path, "wb") as out, open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", command, "index", "serve", "--port", "0",
                 "--config", str(config)],
                stdout=out, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
            )  # fmt: skip
        self.port = self._wait_ready(60.0)
        self.log_seen = 0

    def _wait_ready(self, wait: float) -> int:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for line in self.out_path.read_text(errors="replace").splitlines():
                if line.startswith("serving shards"):
                    return int(line.strip().rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"the shard host did not start (exit {self.proc.poll()}):\n"
            + self.log_path.read_text(errors="replace")[-3000:]
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def new_log(self) -> str:
        """What the host logged since the last call."""
        data = self.log_path.read_bytes()
        new, self.log_seen = data[self.log_seen :], len(data)
        return new.decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# raw HTTP ------------------------------------------------------------------------------------
def request(what: str, body: bytes, headers: dict[str, str | bytes] | None = None) -> bytes:
    lines = [f"POST /{what} HTTP/1.0".encode(), b"Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post(what: str, body, token: str = TOKEN, **headers) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Authorization": f"Bearer {token}", "Content-Length": str(len(data)), **headers}
    return request(what, data, head)


def label(data: bytes) -> tuple[str, object]:
    """The outcome of an answer: ("400", body) ..., "503 busy" for a connection beyond the
    limit, "no answer" when the host closed without a word."""
    if not data:
        return "no answer", None
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return "garbled", data[:80]
    status = parts[1].decode()
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status == "503" and isinstance(answer, dict) and "busy" in str(answer.get("error")):
        return BUSY, answer
    return status, answer


def exchange(
    port: int, raw: bytes, wait: float = 5.0, shut: bool = False, timing: dict | None = None
) -> tuple[str, object]:
    """Send `raw` and read the answer until the host closes (at most `wait` seconds);
    `timing["connect"]`: the seconds the TCP connection took."""
    started = time.monotonic()
    deadline = started + wait
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
            if timing is not None:
                timing["connect"] = time.monotonic() - started
            try:
                sock.sendall(raw)
                if shut:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the host answered and closed before all was sent: read its answer
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return label(data)
                data += chunk
            return ("timeout", None) if not data else label(data)
    except TimeoutError:
        return ("timeout", None) if not data else label(data)
    except ConnectionResetError:
        return ("reset", None) if not data else label(data)
    except OSError as exc:
        return type(exc).__name__, None


def asking(key: str, what: str, **fields) -> dict:
    """A well-formed request of shard `key`, with `fields` changed."""
    body = {"key": key, "query": QUERY, "redacted": False}
    if what == "hits":
        body |= {"found": [[0, None]], "context": 1}
    else:
        body["filters"] = filters_to_json(SearchFilters())
    if what == "count":
        body |= {"cap": None, "lo": 0, "hi": 1 << 62}
    if what == "page":
        body |= {"order": "id DESC", "limit": 20, "offset": 0, "lo": 0, "hi": 1 << 62}
    return body | fields


# the normal client ----------------------------------------------------------------------------
class NormalClient(threading.Thread):
    """Asks `count` of the big shard again and again until stopped; waits out a busy host."""

    def __init__(self, port: int, key: str, expected: int, pause: float = 0.05):
        super().__init__(daemon=True)
        self.port, self.expected, self.pause = port, expected, pause
        self.raw = post("count", asking(key, "count"))
        self.stopping = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (started, latency) of each answer
        self.attempts: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.slowest_connect = 0.0

    @property
    def latencies(self) -> list[float]:
        return [latency for _, latency in self.samples]

    def since(self, moment: float) -> list[float]:
        """The latencies of the answers asked for after `moment`."""
        return [latency for started, latency in self.samples if started >= moment]

    def ask_once(self) -> None:
        started = time.monotonic()
        give_up = started + 3 * BOUND_S
        while True:
            timing: dict = {}
            status, answer = exchange(
                self.port, self.raw, wait=max(0.1, give_up - time.monotonic()), timing=timing
            )
            self.attempts[status] += 1
            self.slowest_connect = max(self.slowest_connect, timing.get("connect", 0.0))
            if status not in (BUSY, "no answer", "reset", "ConnectionRefusedError"):
                break
            if time.monotonic() > give_up:
                break
            time.sleep(0.05)
        self.samples.append((started, time.monotonic() - started))
        if status != "200" or answer != self.expected:
            self.wrong.append(f"{status} {str(answer)[:80]}")

    def run(self) -> None:
        while not self.stopping.is_set():
            self.ask_once()
            self.stopping.wait(self.pause)

    def stop(self) -> None:
        self.stopping.set()
        self.join(3 * BOUND_S + 5)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# the attacks ---------------------------------------------------------------------------------
class Attack:
    """What one attack sent and got back."""

    def __init__(self) -> None:
        self.sent = 0
        self.outcomes: Counter[str] = Counter()
        self.notes: list[str] = []
        self.unexpected: Counter[str] = Counter()  # 5xx other than busy (and 501)

    def got(self, outcome: str, what: str = "") -> None:
        self.sent += 1
        self.outcomes[outcome] += 1
        if outcome.startswith("5") and outcome != BUSY and outcome not in PROTOCOL_5XX:
            self.unexpected[f"{outcome} {what}".strip()] += 1


def attack_huge_numbers(port: int, key: str, rowids: list[int]) -> Attack:
    out = Attack()
    cases = [
        ("page", {"limit": 10**10}),
        ("page", {"offset": 10**12}),
        ("page", {"limit": 10**10, "offset": 10**12}),
        ("page", {"limit": ROWS_MAX, "offset": 1}),
        ("page", {"limit": 2**64}),
        ("page", {"limit": -(2**64)}),
        ("page", {"hi": 1 << 70, "lo": -(1 << 70)}),
        ("count", {"cap": -1}),
        ("count", {"cap": 10**30}),
        ("count", {"lo": -1}),
        ("hits", {"context": 10**6}),
        ("hits", {"context": -1}),
        ("hits", {"found": [[1 << 70, None]]}),
        ("hits", {"found": [[1, 1e308]], "context": 10**6}),
    ]
    for what, fields in cases:
        for _ in range(5):
            status, _ = exchange(port, post(what, asking(key, what, **fields)))
            out.got(status, what)
    raw_numbers = [
        ("page", b'"limit": 1' + b"0" * 5000),  # past Python's int digits limit
        ("page", b'"limit": 1e400'),  # inf
        ("page", b'"limit": NaN'),
        ("page", b'"limit": -Infinity'),
        ("count", b'"cap": 99999999999999999999999999999999999999'),
    ]
    for what, number in raw_numbers:
        body = json.dumps(asking(key, what)).encode()[:-1] + b", " + number + b"}"
        for _ in range(5):
            status, _ = exchange(port, post(what, body))
            out.got(status, what)
    # the most a request may ask, legally: a whole page and a thousand hits at once
    for _ in range(3):
        status, _ = exchange(port, post("page", asking(key, "page", limit=ROWS_MAX)), wait=10)
        out.got(status, "page")
        found = [[rowid, None] for rowid in (rowids * 1000)[:1000]]
        status, _ = exchange(port, post("hits", asking(key, "hits", found=found, context=5)))
        out.got(status, "hits")
    out.notes.append("all but the 6 legal ones (a 1,000,000-row page, 1,000 hits) 400 expected")
    return out


def attack_big_length(port: int, key: str) -> Attack:
    out = Attack()
    size = str(50 * 1000 * 1000)
    for token, expected in ((None, "401"), (TOKEN, "413"), ("wrong-" + TOKEN, "401")):
        head = {"Content-Length": size}
        if token:
            head["Authorization"] = f"Bearer {token}"
        raw = request("count", b'{"key": "' + key.encode() + b'", ', head)
        slow = []
        for _ in range(20):
            started, timing = time.monotonic(), {}
            status, _ = exchange(port, raw, wait=5.0, timing=timing)
            slow.append((time.monotonic() - started, timing.get("connect", 0.0)))
            out.got(status, "count")
        for _ in range(20):  # headers and a few bytes, then gone
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(raw)
                out.got("closed at once")
            except OSError as exc:
                out.got(type(exc).__name__)
        out.notes.append(
            f"50 MB {'with token' if token == TOKEN else 'wrong token' if token else 'no token'}"
            f" ({expected} expected): slowest answer {max(slow)[0]:.3f} s, of which TCP connect"
            f" {max(slow)[1]:.3f} s"
        )
    return out


def attack_stalled(
    port: int, count: int = 100, hold_s: float = HOST_TIMEOUT_S + 2.5, connect_s: float = 8.0
) -> Attack:
    """`count` connections opened at once (non-blocking) that send half a request line and
    nothing more; each closed by the host, or by the script `hold_s` after the last one
    connected (a connection not made within `connect_s` is given up)."""
    out = Attack()
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    opened_at: dict[socket.socket, float] = {}
    held: list[float] = []
    connects: list[float] = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS: the kernel makes it
        selector.register(sock, selectors.EVENT_WRITE)
    last_connect = started

    def finish(sock: socket.socket, outcome: str) -> None:
        selector.unregister(sock)
        sock.close()
        out.got(outcome, "stalled")

    while selector.get_map():
        now = time.monotonic()
        waiting = [
            i.fileobj for i in selector.get_map().values() if i.events & selectors.EVENT_WRITE
        ]
        if (waiting and now - started > connect_s) or (not waiting and now - last_connect > hold_s):
            break
        for item, _ in selector.select(0.05):
            sock = item.fileobj
            if item.events & selectors.EVENT_WRITE:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    finish(sock, f"connect {os.strerror(error)}")
                    continue
                last_connect = time.monotonic()
                connects.append(last_connect - started)
                opened_at[sock] = last_connect
                try:
                    sock.send(b"POST /count HTT")  # half a request line, and nothing more
                except OSError:
                    finish(sock, "reset")
                    continue
                selector.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                finish(sock, "reset")
                continue
            if data:
                finish(sock, label(data)[0])
            else:
                held.append(time.monotonic() - opened_at[sock])
                finish(sock, "dropped by host")
    for item in list(selector.get_map().values()):
        connected = item.events & selectors.EVENT_READ
        finish(item.fileobj, "no word from host" if connected else "not connected in time")
    selector.close()
    if held:
        out.notes.append(
            f"{len(held)} stalled connections dropped by the host {min(held):.2f}-"
            f"{max(held):.2f} s after they were opened (timeout {HOST_TIMEOUT_S:g} s)"
        )
    late = [t for t in connects if t > 0.5]
    out.notes.append(
        f"{len(connects)} connections made within {max(connects, default=0):.2f} s of the "
        f"start, {len(late)} of them only after {min(late, default=0):.2f} s (their SYN dropped "
        "while the host's listen queue was full, sent again by the kernel); 'no word from host':"
        f" connected on this side, yet neither answered nor dropped {hold_s:g} s after the last"
        " connected, i.e. never accepted by the host (the handshake's last ACK dropped while"
        " the listen queue was full)"
    )
    return out


def attack_trickled(
    port: int, key: str, part: str, hold_s: float = 8.0, every_s: float = 0.5
) -> Attack:
    """CONNECTIONS + 2 connections that send a byte every `every_s` (well within the timeout),
    for at most `hold_s`: of the request head (a header line that never ends) when `part` is
    "head", of the body (its Content-Length announced) when "body"."""
    out = Attack()
    started = time.monotonic()
    body = json.dumps(asking(key, "count")).encode()
    socks: dict[socket.socket, bytes] = {}
    opened_at: dict[socket.socket, float] = {}
    for _ in range(CONNECTIONS + 2):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            if part == "head":
                sock.sendall(b"POST /count HTTP/1.0\r\nX-Slow: ")
                socks[sock] = b"a" * 1000
            else:
                head = post("count", body)
                sock.sendall(head[: len(head) - len(body)])
                socks[sock] = body
        except OSError as exc:
            out.got(f"connect {type(exc).__name__}")
            continue
        opened_at[sock] = time.monotonic()
        sock.setblocking(False)
    sent = dict.fromkeys(socks, 0)
    ended: list[float] = []
    deadline = started + hold_s
    while socks and time.monotonic() < deadline:
        time.sleep(every_s)
        for sock, rest in list(socks.items()):
            outcome = None
            try:
                data = sock.recv(1 << 16)
                outcome = label(data)[0] if data else "dropped by host"
            except BlockingIOError:
                pass
            except OSError:
                outcome = "reset"
            if outcome is None and sent[sock] < len(rest):
                try:
                    sock.send(rest[sent[sock] : sent[sock] + 1])
                    sent[sock] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    outcome = "reset"
            if outcome is not None:
                if outcome != BUSY:
                    ended.append(time.monotonic() - opened_at[sock])
                out.got(outcome, f"trickled {part}")
                sock.close()
                del socks[sock]
    for sock in socks:
        out.got(f"still open after {hold_s:g} s")
        sock.close()
    if ended:
        out.notes.append(
            f"{len(ended)} trickled {'heads' if part == 'head' else 'bodies'} ended by the host {min(ended):.1f}-{max(ended):.1f} s "
            f"after they were opened (timeout {HOST_TIMEOUT_S:g} s; the script looks every "
            f"{every_s:g} s)"
        )
    if socks:
        out.notes.append(
            f"{len(socks)} connections sending their {part} a byte every {every_s:g} s were "
            f"still served after {hold_s:g} s ({max(sent.values())} bytes sent each)"
        )
    return out


def attack_malformed(port: int, key: str) -> Attack:
    out = Attack()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    good = json.dumps(asking(key, "count")).encode()

    def with_length(body: bytes, **extra) -> bytes:
        return request("count", body, {**auth, "Content-Length": str(len(body)), **extra})

    cases: list[tuple[str, bytes, bool]] = [
        ("bad JSON", with_length(b"{not json"), False),
        ("a JSON list", with_length(b"[1, 2]"), False),
        ('"[" * 100000', with_length(b"[" * 100_000), False),
        ('{"a": * 50000', with_length(b'{"a": ' * 50_000), False),
        ("not UTF-8", with_length(b"\xff\xfe{}"), False),
        ("NUL bytes", with_length(b"\x00" * 100), False),
        ("fields of the wrong kind", with_length(b'{"key": ["x"], "query": {}}'), False),
        ("auth not ASCII", request("count", good, {"Authorization": b"Bearer \xff\xfe",
                                                   "Content-Length": str(len(good))}), False),
        ("header value in Chinese", with_length(good, **{"X-Note": "中文".encode()}), False),
        ("header value Latin-1", with_length(good, **{"X-Note": b"\xe9\xff"}), False),
        ("Content-Length fullwidth", request("count", good, {**auth, "Content-Length":
                                                              "２".encode()}), False),
        ("Content-Length abc", request("count", good, {**auth, "Content-Length": "abc"}), False),
        ("Content-Length -5", request("count", good, {**auth, "Content-Length": "-5"}), False),
        ("Content-Length 1e3", request("count", good, {**auth, "Content-Length": "1e3"}), False),
        ("Content-Length 0x10", request("count", good, {**auth, "Content-Length": "0x10"}), False),
        ("Content-Length empty", request("count", good, {**auth, "Content-Length": ""}), False),
        ("Content-Length 40 digits", request("count", good, {**auth, "Content-Length":
                                                              "9" * 40}), False),
        ("duplicate Content-Length",
         b"POST /count HTTP/1.0\r\nAuthorization: Bearer " + TOKEN.encode()
         + f"\r\nContent-Length: {len(good)}\r\nContent-Length: 3\r\n\r\n".encode() + good,
         False),
        ("Transfer-Encoding chunked", request("count", b"2\r\n{}\r\n0\r\n\r\n",
                                              {**auth, "Transfer-Encoding": "chunked"}), False),
        ("body shorter than Content-Length",
         request("count", b"{}", {**auth, "Content-Length": "50"}), True),
        ("garbage request line", b"\x00\x01\x02 garbage \xff\r\n\r\n", False),
        ("one word", b"GET\r\n\r\n", False),
        ("HTTP/9.9", b"GET /shards HTTP/9.9\r\n\r\n", False),
        ("bad version", b"GET /count HTTP/x.y\r\n\r\n", False),
        ("extra words", b"GET /count HTTP/1.0 and more\r\n\r\n", False),
        ("empty", b"\r\n\r\n", False),
        ("TLS hello", bytes.fromhex("16030100a5010000a10303") + os.urandom(64), True),
        ("request line 70 KB", b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n", False),
        ("header 70 KB", b"GET /shards HTTP/1.0\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
         False),
        ("150 headers", b"GET /shards HTTP/1.0\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", False),
        ("unknown path", post("drop_everything", asking(key, "count")), False),
        ("path ../../etc/passwd", post("../../etc/passwd", asking(key, "count")), False),
        ("path in Chinese", b"GET /\xe5\x88\x86\xe7\x89\x87 HTTP/1.0\r\n"
         + f"Authorization: Bearer {TOKEN}".encode() + b"\r\n\r\n", False),
        ("unknown shard", post("count", asking("1999-01-01", "count")), False),
        ("shard key 10 KB", post("count", asking("k" * 10_000, "count")), False),
        ("wrong token", post("count", asking(key, "count"), token="wrong"), False),
        ("token lower-case bearer",
         request("count", good, {"Authorization": f"bearer {TOKEN}",
                                 "Content-Length": str(len(good))}), False),
        ("token's prefix", post("count", asking(key, "count"), token=TOKEN[:-1]), False),
        ("token twice", post("count", asking(key, "count"), token=f"{TOKEN} {TOKEN}"), False),
        ("no token", request("count", good, {"Content-Length": str(len(good))}), False),
        ("method PUT", b"PUT /count HTTP/1.0\r\n\r\n", False),
        ("method DELETE", b"DELETE /shards HTTP/1.0\r\n\r\n", False),
        ("method HEAD", b"HEAD /shards HTTP/1.0\r\n\r\n", False),
        ("GET /count with token", b"GET /count HTTP/1.0\r\n"
         + f"Authorization: Bearer {TOKEN}".encode() + b"\r\n\r\n", False),
    ]  # fmt: skip
    queries = {
        "query 100000 (": "(" * 100_000,
        "query nested ( 5000 deep": "(" * 5_000 + QUERY + ")" * 5_000,
        'query a lone "': '"',
        "query NOT alone": "NOT",
        "query ~": "~",
        "query *": "*",
        "query OR OR": "OR OR OR",
        "query NUL": "\x00",
        "query 20000 OR-terms": " OR ".join(f"词{n}" for n in range(20_000)),
        "query 150000 chars one word": "退" * 150_000,
        "query lone surrogate": "\ud800",
    }
    for name, query in queries.items():
        body = json.dumps(asking(key, "page", query=query)).encode()
        cases.append((name, with_length(body), False))
    statuses: dict[str, Counter[str]] = {}
    for name, raw, shut in cases:
        for _ in range(3):
            status, _ = exchange(port, raw, wait=HOST_TIMEOUT_S + 3, shut=shut)
            statuses.setdefault(name, Counter())[status] += 1
            out.got(status, name)
    for name, counted in statuses.items():
        shown = ", ".join(f"{n}x {status}" for status, n in sorted(counted.items()))
        out.notes.append(f"{name:<34} {shown}")
    return out


def attack_slow_readers(
    port: int, key: str, normal: NormalClient, readers: int = 4, hold_s: float = 5.0
) -> Attack:
    """`readers` clients ask for a whole page (~6.7 MB) and read it 1 KiB every 50 ms through
    a 4 KiB receive buffer, for at most `hold_s`."""
    out = Attack()
    raw = post("page", asking(key, "page", order="score", limit=ROWS_MAX))
    results: list[tuple[str, int, int | None, float]] = []
    first_bytes: list[float] = []

    def read_slowly() -> None:
        started = time.monotonic()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(HOST_TIMEOUT_S + 3)
        data, length, ending = b"", None, f"still reading after {hold_s:g} s"
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(raw)
            while time.monotonic() - started < hold_s:
                chunk = sock.recv(1024)
                if not chunk:
                    ending = "closed by the host"
                    break
                if not data:
                    first_bytes.append(time.monotonic())
                data += chunk
                if length is None and b"\r\n\r\n" in data:
                    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                if length is not None and len(data.partition(b"\r\n\r\n")[2]) >= length:
                    ending = "whole answer read"
                    break
                time.sleep(0.05)
        except OSError as exc:
            ending = type(exc).__name__
        finally:
            sock.close()
        status = label(data[:200])[0] if data else "no answer"
        body = len(data.partition(b"\r\n\r\n")[2])
        results.append((f"{status}, {ending}", body, length, time.monotonic() - started))

    threads = [threading.Thread(target=read_slowly, daemon=True) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(hold_s + HOST_TIMEOUT_S + 5)
    for outcome, body, length, took in results:
        out.got(outcome.split(",")[0], "page")
        out.notes.append(
            f"slow reader: {outcome}: {body} of {length} bytes of body in {took:.1f} s"
        )
    if len(first_bytes) == readers:
        writing = normal.since(max(first_bytes))
        out.notes.append(
            f"normal client while the host wrote to the slow readers (after each had its first "
            f"bytes): {len(writing)} answers, max {max(writing, default=float('nan')) * 1000:.1f} ms"
        )
    return out


def attack_flood(port: int, key: str, rowids: list[int], total: int = 200) -> Attack:
    out = Attack()
    found = [[rowid, None] for rowid in rowids[:20]]
    kinds = [
        ("count", post("count", asking(key, "count"))),
        ("page", post("page", asking(key, "page", limit=1000, order="score"))),
        ("day_counts", post("day_counts", asking(key, "day_counts"))),
        ("hits", post("hits", asking(key, "hits", found=found, context=2))),
        ("shards", b"GET /shards HTTP/1.0\r\n" + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()),
    ]
    with ThreadPoolExecutor(max_workers=32) as pool:
        jobs = [
            (kinds[n % len(kinds)][0], pool.submit(exchange, port, kinds[n % len(kinds)][1]))
            for n in range(total)
        ]
        for what, job in jobs:
            out.got(job.result()[0], what)
    return out


# running them --------------------------------------------------------------------------------
def run_attack(host: Host, key: str, expected: int, name: str, attack) -> dict:
    normal = NormalClient(host.port, key, expected)
    host.new_log()
    drops = listen_drops()
    normal.start()
    time.sleep(0.2)
    started = time.monotonic()
    try:
        result = attack(normal)
    finally:
        took = time.monotonic() - started
        time.sleep(0.2)
        normal.stop()
    log = host.new_log()
    dropped = listen_drops()
    return {
        "listen_drops": None if drops is None or dropped is None else dropped - drops,
        "name": name,
        "result": result,
        "took": took,
        "normal": normal,
        "tracebacks": log.count("Traceback"),
        "errors": sum(" ERROR " in line for line in log.splitlines()),
        "undelivered": log.count("was not delivered"),
        "undelivered_why": next(
            (line for line in log.splitlines() if "was not delivered" in line), ""
        ),
        "alive": host.alive(),
    }


def print_table(rows: list[dict], baseline: list[float]) -> None:
    print()
    print(
        f"baseline (normal client alone, {len(baseline)} `count`s): p50 "
        f"{quantile(baseline, 0.5) * 1000:.1f} ms, p95 {quantile(baseline, 0.95) * 1000:.1f} ms,"
        f" max {max(baseline) * 1000:.1f} ms"
    )
    print(
        f"latency bound during an attack: shard_host_timeout_s {HOST_TIMEOUT_S:g} s + "
        f"{MARGIN_S:g} s = {BOUND_S:g} s"
    )
    print()
    head = (
        f"{'attack':<16} {'sent':>5} {'s':>5}  {'normal n':>8} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'max ms':>7}  {'bad 5xx':>7} {'tracebk':>7} {'SYNdrop':>7} {'alive':>5}  outcomes"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        result, normal = row["result"], row["normal"]
        lat = normal.latencies
        outcomes = ", ".join(f"{status}: {n}" for status, n in sorted(result.outcomes.items()))
        print(
            f"{row['name']:<16} {result.sent:>5} {row['took']:>5.1f}  {len(lat):>8} "
            f"{quantile(lat, 0.5) * 1000:>7.1f} {quantile(lat, 0.95) * 1000:>7.1f} "
            f"{max(lat, default=float('nan')) * 1000:>7.1f}  "
            f"{sum(result.unexpected.values()):>7} {row['tracebacks']:>7} "
            f"{'?' if row['listen_drops'] is None else row['listen_drops']:>7} "
            f"{'yes' if row['alive'] else 'NO':>5}  {outcomes}"
        )
    print(
        "s: seconds the attack ran; normal n: answers the normal client got meanwhile; bad 5xx: "
        "answers 5xx other than 503 busy, 501, 505;\ntracebk: tracebacks in the host's log; "
        "SYNdrop: connections the kernel dropped at a full listen queue meanwhile (ListenDrops)"
    )
    print()
    for row in rows:
        normal = row["normal"]
        tries = ", ".join(f"{status}: {n}" for status, n in sorted(normal.attempts.items()))
        print(
            f"{row['name']}: normal client's tries: {tries}; its slowest TCP connect "
            f"{normal.slowest_connect:.2f} s"
        )
        if row["undelivered"]:
            print(f"  the host gave up writing {row['undelivered']} answers; its log, e.g.:")
            print(f"    {row['undelivered_why'][:150]}")
        for note in row["result"].notes:
            print(f"  {note}")


def verdict(rows: list[dict], host: Host) -> list[str]:
    failures = []
    for row in rows:
        result, normal = row["result"], row["normal"]
        for what, n in result.unexpected.items():
            failures.append(f"{row['name']}: {n}x {what}")
        if normal.attempts.get("500"):
            failures.append(f"{row['name']}: the normal client got {normal.attempts['500']}x 500")
        if normal.wrong:
            failures.append(
                f"{row['name']}: {len(normal.wrong)} normal answers wrong or missing, e.g. "
                f"{normal.wrong[0]}"
            )
        worst = max(normal.latencies, default=float("inf"))
        if worst > BOUND_S:
            failures.append(
                f"{row['name']}: the normal client waited {worst:.2f} s (bound {BOUND_S:g} s)"
            )
        if row["tracebacks"]:
            failures.append(f"{row['name']}: {row['tracebacks']} tracebacks in the host's log")
        if not row["alive"]:
            failures.append(f"{row['name']}: the host process is gone")
    if not host.alive():
        failures.append(f"the host process is not running at the end (exit {host.proc.poll()})")
    return failures


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="shard-host-attack-"))
    host: Host | None = None

    def give_up() -> None:  # the whole script is bounded, whatever hangs
        print(f"\nABORT: the script ran past {WALL_S:g} s", flush=True)
        if host is not None:
            host.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(3)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`: clean up first
    watchdog = threading.Timer(WALL_S, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        started = time.monotonic()
        key, expected = build_index(folder)
        print(f"index: shard {key} with {expected} segments saying {QUERY} "
              f"(+2 small days), built in {time.monotonic() - started:.1f} s")  # fmt: skip
        host = Host(folder)
        print(
            f"host: `callscope index serve --port 0` pid {host.proc.pid} on 127.0.0.1:{host.port}"
            f" ({CONNECTIONS} connections, {HOST_TIMEOUT_S:g} s timeout, token set)"
        )
        status, listing = exchange(
            host.port,
            b"GET /shards HTTP/1.0\r\n" + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode(),
        )
        print(
            f"shards served: {status} {sorted(listing) if isinstance(listing, dict) else listing}"
        )
        status, page = exchange(host.port, post("page", asking(key, "page", limit=50)))
        rowids = [row[0] for row in page] if status == "200" else [0]
        baseline_client = NormalClient(host.port, key, expected)
        for _ in range(BASELINE):
            baseline_client.ask_once()
        if baseline_client.wrong:
            print(f"the normal query is not answered right: {baseline_client.wrong[:3]}")
            return 1
        attacks = [
            ("1 huge numbers", lambda _: attack_huge_numbers(host.port, key, rowids)),
            ("2 50MB length", lambda _: attack_big_length(host.port, key)),
            ("3 stalled x100", lambda _: attack_stalled(host.port)),
            ("3b trickle head", lambda _: attack_trickled(host.port, key, "head")),
            ("3c trickle body", lambda _: attack_trickled(host.port, key, "body")),
            ("4 malformed", lambda _: attack_malformed(host.port, key)),
            ("5 slow readers", lambda normal: attack_slow_readers(host.port, key, normal)),
            ("6 flood x200", lambda _: attack_flood(host.port, key, rowids)),
        ]
        rows = []
        for name, attack in attacks:
            rows.append(run_attack(host, key, expected, name, attack))
            print(f"  ran {name} in {rows[-1]['took']:.1f} s", flush=True)
        print_table(rows, baseline_client.latencies)
        failures = verdict(rows, host)
        log = host.log_path.read_text(errors="replace")
        print()
        if failures:
            print("FAIL:")
            for failure in failures:
                print(f"  {failure}")
            tail = [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line]
            for line in tail[:10]:
                print(f"  host log: {line[:200]}")
        else:
            print(
                f"PASS: no 500 or other unexpected 5xx, the host is running, every normal "
                f"answer right and within {BOUND_S:g} s"
            )
        print(f"total {time.monotonic() - started:.1f} s")
        return 1 if failures else 0
    finally:
        watchdog.cancel()
        if host is not None:
            host.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
