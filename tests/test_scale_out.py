"""A night fanned out over workers: a real Prefect server (on PostgreSQL as in production, or
its own SQLite database where PostgreSQL cannot run here; one server for the module), real
process workers taking parts of the bundled real-audio day, the shared warehouse, and the
same calls and segments as the single-process night; a worker killed mid-part; the night's
own local server; two hosts and one day's commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from callscope.core.config import load_config
from callscope.core.errors import DayLocked
from callscope.flows.local import worker_env
from callscope.pipeline.parts import prestarted, split
from callscope.storage.warehouse import Warehouse
from callscope.synth.demoday import DEMO_DATE, DemoError, build_demo_day

from tests.postgres import PostgresUnavailable, count_rows, postgres_database

REPO = Path(__file__).resolve().parent.parent
DAY = DEMO_DATE
DATE = DAY.isoformat()
CALL_COLUMNS = ["call_id", "status", "language", "n_segments", "channel_layout", "diarization"]
SEGMENT_COLUMNS = ["call_id", "idx", "speaker", "start_s", "end_s", "text", "text_redacted"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scale-out") / "recordings"
    try:
        build_demo_day(root)
    except DemoError as exc:
        pytest.skip(str(exc))
    return root


def _rows(store: Warehouse, table: str, columns: list[str]) -> list[tuple]:
    rows = store.read(table, DAY).select(columns).to_pylist()
    return sorted(tuple(row[c] for c in columns) for row in rows)


def _night_cli(
    recordings: Path | str, warehouse: Path | str, *options: str, env: dict, cwd: Path = REPO
) -> dict:
    command = [sys.executable, "-m", "callscope.cli", "nightly", "--date", DATE]
    result = subprocess.run(
        [*command, "--recordings", str(recordings), "--warehouse", str(warehouse), *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


@contextmanager
def _prefect_server(home: Path, database_url: str | None = None) -> Iterator[str]:
    from callscope.flows.local import api_reachable, free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = _env(PREFECT_HOME=str(home), PREFECT_API_URL=url)
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not api_reachable(url):
            assert server.poll() is None and time.monotonic() < deadline, "no Prefect server"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@dataclass
class Server:
    url: str  # the Prefect API
    database: str | None  # its PostgreSQL database; None: its own SQLite database
    why_not_postgres: str = ""


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[Server]:
    """One Prefect server for the module's fanned-out nights (each has pools, deployments and
    flow runs of its own): on a throwaway PostgreSQL cluster as in production, on SQLite
    where PostgreSQL cannot run here."""
    home = tmp_path_factory.mktemp("prefect-home")
    with ExitStack() as stack:
        try:
            database, why = stack.enter_context(postgres_database()), ""
        except PostgresUnavailable as exc:
            database, why = None, str(exc)
        url = stack.enter_context(_prefect_server(home, database))
        yield Server(url, database, why)


def test_a_night_over_two_workers_on_a_postgresql_server_matches_the_single_process_night(
    demo_day, prefect_server, tmp_path
):
    if prefect_server.database is None:
        pytest.skip(f"no PostgreSQL for the Prefect server: {prefect_server.why_not_postgres}")
    # the single-process night in this machine's own environment (all cores), the workers
    # with a share of one core each: a call's decode threads are fixed (asr.cpu_threads), so
    # the calls and segments must be the same, word for word
    single = _night_cli(demo_day, tmp_path / "single", "--json", env=_env())
    flow_runs_before = count_rows(prefect_server.database, "flow_run")
    # parts of 4 calls: 3 parts for 2 workers, so that one worker takes a second part
    env = _env(PREFECT_API_URL=prefect_server.url, CALLSCOPE_FLOW__PART_CALLS="4")
    # paths relative to where the command runs, as the README writes them: the workers
    # run their parts in folders of their own
    relative = os.path.relpath(demo_day, tmp_path), "fanned"
    config = os.path.relpath(REPO / "configs" / "default.yaml", tmp_path)
    options = "--config", config, "--workers", "2", "--json"
    summary = _night_cli(*relative, *options, env=env, cwd=tmp_path)
    assert len(summary["parts"]) == 3 == len(split(list(range(summary["calls"])), 4))
    assert all(part["state"] == "done" for part in summary["parts"])
    assert {a["worker"] for part in summary["parts"] for a in part["attempts"]} == {
        f"{socket.gethostname()}-local-{n}" for n in (1, 2)
    }  # both workers took parts
    assert prestarted([a for part in summary["parts"] for a in part["attempts"]]) >= 1
    flow_runs = count_rows(prefect_server.database, "flow_run") - flow_runs_before
    assert flow_runs == 1 + 3  # the night and its parts
    assert (summary["ok"], summary["error"]) == (single["ok"], single["error"])
    assert summary["steps"]["commit"] == "ran" and summary["steps"]["handoff"] == "ran"
    one, fanned = Warehouse(tmp_path / "single"), Warehouse(tmp_path / "fanned")
    assert _rows(fanned, "calls", CALL_COLUMNS) == _rows(one, "calls", CALL_COLUMNS)
    assert _rows(fanned, "segments", SEGMENT_COLUMNS) == _rows(one, "segments", SEGMENT_COLUMNS)
    assert not (tmp_path / "fanned" / "_parts").exists() or not any(
        (tmp_path / "fanned" / "_parts").rglob("*")
    )
    assert not (tmp_path / "fanned" / "_staging" / f"date={DATE}").exists()
    again = _night_cli(demo_day, tmp_path / "single", "--json", env=_env())
    assert again["skipped"] == single["ok"] and again["ok"] == 0  # same key: nothing redone
    assert _rows(one, "segments", SEGMENT_COLUMNS) == _rows(fanned, "segments", SEGMENT_COLUMNS)


def test_local_mode_starts_its_own_server_and_workers_and_stops_them(monkeypatch):
    """Without PREFECT_API_URL, `nightly --workers N` runs on a server of its own: it answers,
    the pool has the workers, and everything it started is gone afterwards."""
    from callscope.flows.local import LocalCluster, api_reachable
    from prefect.client.orchestration import get_client

    from callscope.cli import worker_command

    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    async def workers_online(pool: str) -> int:
        async with get_client() as client:
            return len(await client.read_workers_for_work_pool(pool))

    cluster = LocalCluster(2, "local-test", log=lambda line: None, worker_command=worker_command())
    with cluster:
        url = cluster.url
        assert api_reachable(url) and os.environ["PREFECT_API_URL"] == url
        deadline = time.monotonic() + 120
        while asyncio.run(workers_online("local-test")) < 2:
            assert time.monotonic() < deadline, "the workers never reached the pool"
            time.sleep(1)
        processes = [cluster._server, *cluster._workers]
    assert all(process.poll() is not None for process in processes)
    assert not api_reachable(url) and "PREFECT_API_URL" not in os.environ


NIGHT_HOLDING_A_CLUSTER = """
import os, sys, time
from callscope.cli import worker_command
from callscope.flows.local import LocalCluster
workers = int(sys.argv[1])
cluster = LocalCluster(
    workers, "killed-night", log=lambda line: None, api_only=not workers,
    worker_command=worker_command(),
)
with cluster:
    processes = [cluster._server, *cluster._workers]
    print(*(process.pid for process in processes), cluster.url, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("workers", [1, 0], ids=["fanned-out", "one-process"])
def test_a_night_killed_with_sigkill_leaves_no_server_or_worker_behind(workers):
    """`nightly --workers 1` and a night in one process (whose API server is its own, not
    Prefect's temporary one): kill -9 of the night leaves nothing running."""
    from callscope.flows.local import api_reachable

    env = {k: v for k, v in _env().items() if k != "PREFECT_API_URL"}
    night = subprocess.Popen(
        [sys.executable, "-c", NIGHT_HOLDING_A_CLUSTER, str(workers)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        *pids, url = night.stdout.readline().split()
        assert api_reachable(url) and len(pids) == 1 + workers
        groups = [os.getpgid(int(pid)) for pid in pids]
        night.kill()
        night.wait(30)
        deadline = time.monotonic() + 60
        while any(_group_alive(group) for group in groups):
            assert time.monotonic() < deadline, "the server or worker outlived the killed night"
            time.sleep(0.5)
        assert not api_reachable(url)
    finally:
        if night.poll() is None:
            night.kill()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


# a worker killed mid-part ---------------------------------------------------------------------
def _worker(url: str, name: str, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "callscope.cli", "worker", "--pool", "test-pool"]
    return subprocess.Popen(
        [*command, "--name", name],
        cwd=REPO,
        env=_env(PREFECT_API_URL=url, PREFECT_WORKER_QUERY_SECONDS="1"),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_a_worker_killed_mid_part_is_replaced_and_no_call_is_lost_or_doubled(
    demo_day, prefect_server, tmp_path
):
    recordings = tmp_path / "recordings"
    day = recordings / DATE
    day.mkdir(parents=True)
    # the day's shortest speech (zh-0001, 4 s) in place of its longest (zh-0002, 70 s): the
    # worker is killed while its part starts up, before any call, whatever their length
    for name in ("zh-0001.wav", "zh-0003.flac", "en-0004.wav", "hold-0006.opus"):
        shutil.copy(demo_day / DATE / name, day / name)
    warehouse = tmp_path / "warehouse"
    workers = [_worker(prefect_server.url, f"w{n}", tmp_path / f"w{n}.log") for n in (1, 2)]
    env = _env(
        PREFECT_API_URL=prefect_server.url,
        CALLSCOPE_FLOW__WORK_POOL="test-pool",
        CALLSCOPE_FLOW__PART_CALLS="2",
        CALLSCOPE_FLOW__PART_LOST_AFTER_S="25",
        CALLSCOPE_FLOW__PART_POLL_S="1",
    )
    command = [sys.executable, "-m", "callscope.cli", "nightly", "--date", DATE, "--fan-out"]
    night = subprocess.Popen(
        [*command, "--recordings", str(recordings), "--warehouse", str(warehouse), "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        killed = _kill_a_worker_running_a_part(warehouse, workers)
        out, err = night.communicate(timeout=900)
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
    assert night.returncode == 0, err[-3000:]
    summary = json.loads(out)
    calls = Warehouse(warehouse).read("calls", DAY).to_pylist()
    assert sorted(row["call_id"] for row in calls) == ["en-0004", "hold-0006", "zh-0001", "zh-0003"]
    assert summary["ok"] == 4 - summary["skipped"] and summary["error"] == 0
    retried = [part for part in summary["parts"] if len(part["attempts"]) > 1]
    assert len(retried) == 1, summary["parts"]
    [retried] = retried
    first, last = retried["attempts"][0], retried["attempts"][-1]
    assert (first["state"], last["state"]) == ("lost", "done"), retried
    assert first["worker_pid"] == killed and "no heartbeat" in first["reason"]
    assert "1 run again" in out + err and retried["name"] in out + err
    segments = Warehouse(warehouse).read("segments", DAY).to_pylist()
    keys = [(row["call_id"], row["idx"]) for row in segments]
    assert len(keys) == len(set(keys)) and {k[0] for k in keys} >= {"zh-0001", "en-0004"}


def _kill_a_worker_running_a_part(warehouse: Path, workers: list[subprocess.Popen]) -> int:
    """Kill the process group (worker and part) of the first part seen running, before it
    has finished a call; returns the part process's pid."""
    store = Warehouse(warehouse)
    groups = {worker.pid: worker for worker in workers}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for name in ("part-0001", "part-0002"):
            beat, _ = store.read_part_file(DAY, f"{name}.beat")
            if beat and beat["done"] == 0 and beat["attempt"] == 1:
                part = beat["pid"]
                worker = groups[_parent(part)]  # the worker runs each part as its child
                os.kill(part, signal.SIGKILL)  # as if the host died: the part and its worker
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
                return part
        time.sleep(0.2)
    raise AssertionError("no part started")


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


# two hosts, one day ------------------------------------------------------------------------------
HOLD_AS_OTHER_HOST = textwrap.dedent(
    """
    import datetime as dt, socket, sys, time
    socket.gethostname = lambda: "gpu-node-2"
    from callscope.storage.warehouse import Warehouse
    with Warehouse(sys.argv[1]).lock_day(dt.date.fromisoformat(sys.argv[2]), "commit"):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


def test_two_hosts_never_commit_one_day_at_once(tmp_path):
    """A commit on another host holds the shared day lock: this host's commit waits, names
    that host, and goes through once the other is done."""
    store = Warehouse(tmp_path / "warehouse", lock_wait_s=0.5)
    store.stage_call(DAY, {"call_id": "c1", "date": DAY, "status": "ok"}, [])
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_AS_OTHER_HOST, str(store.root), DATE, "4"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout.readline().strip() == "held"
    with pytest.raises(DayLocked, match=r"commit on gpu-node-2 \(pid \d+\)"):
        store.commit_day(DAY)
    assert not store.exists("calls", DAY)
    patient = Warehouse(tmp_path / "warehouse", lock_wait_s=60)
    assert patient.commit_day(DAY) == 1
    assert other.wait(timeout=30) == 0


def test_worker_environment_pins_a_gpu_or_a_share_of_cores():
    gpu = worker_env({}, gpu=3, cpus=None)
    assert gpu["CUDA_VISIBLE_DEVICES"] == "3" and gpu["CALLSCOPE_ASR__DEVICE_INDEX"] == "0"
    cpu = worker_env({}, gpu=None, cpus=2)
    assert cpu == {"CALLSCOPE_WORKER_CPUS": "2"}  # a call's words do not depend on the share
    assert "CUDA_VISIBLE_DEVICES" not in cpu


def test_parts_keep_every_call_once_in_order():
    calls = [f"c{n}" for n in range(7)]
    parts = split(calls, 3)
    assert parts == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6"]]
    assert [c for part in parts for c in part] == calls


# the production recipes ----------------------------------------------------------------------
def test_the_compose_file_runs_one_worker_per_gpu_on_one_prefect_server():
    import yaml

    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    workers = {name: s for name, s in services.items() if name.startswith("gpu-worker-")}
    assert len(workers) >= 2
    for name, service in workers.items():
        gpu = name.removeprefix("gpu-worker-")
        command = service["command"]
        assert command[:3] == ["worker", "--pool", "callscope-gpu"]
        assert command[command.index("--gpu") + 1] == gpu
        [device] = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["device_ids"] == [gpu]
        # this host's server unless PREFECT_API_URL names the main host's
        api = service["environment"]["PREFECT_API_URL"]
        assert api == "${PREFECT_API_URL:-http://prefect-server:4200/api}"
    server = services["prefect-server"]["environment"]
    assert server["PREFECT_SERVER_DATABASE_DRIVER"] == "postgresql+asyncpg"
    assert server["PREFECT_SERVER_DATABASE_HOST"] == "postgres"
    assert "--fan-out" in services["nightly"]["entrypoint"]
    secret = services["web"]["environment"]["CALLSCOPE_SECRET_KEY_FILE"]
    assert secret == "/run/secrets/callscope_secret_key"


def test_the_systemd_worker_unit_pins_its_instance_gpu():
    unit = (REPO / "deploy" / "systemd" / "callscope-worker@.service").read_text()
    [start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert "callscope worker --pool callscope-gpu --gpu %i" in start
    assert "EnvironmentFile=/etc/callscope/env" in unit


# batched staging -------------------------------------------------------------------------------
def _staged(call_id: str, at: dt.datetime, text: str) -> tuple[dict, list[dict]]:
    row = {"call_id": call_id, "date": DAY, "status": "ok", "processed_at": at}
    segment = {"call_id": call_id, "date": DAY, "idx": 0, "start_s": 0.0, "end_s": 1.0}
    return row, [{**segment, "speaker": "customer", "text": text}]


def test_a_call_staged_again_by_a_retried_part_is_committed_once_with_its_latest_rows(
    tmp_path,
):
    store = Warehouse(tmp_path / "warehouse")
    early = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC)
    late = early + dt.timedelta(minutes=5)
    store.stage_calls(DAY, [_staged("a", early, "first try"), _staged("b", early, "b only")])
    store.stage_calls(DAY, [_staged("a", late, "the retry")])
    store.stage_call(DAY, *_staged("c", early, "alone"))
    assert store.done_calls(DAY)["a"]["processed_at"] == late
    assert store.commit_day(DAY) == 3
    texts = {row["call_id"]: row["text"] for row in store.read("segments", DAY).to_pylist()}
    assert texts == {"a": "the retry", "b": "b only", "c": "alone"}
    assert store.read("calls", DAY).num_rows == 3
    assert not (tmp_path / "warehouse" / "_staging" / f"date={DATE}").exists()


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("CALLSCOPE_FLOW__WORK_POOL", "gpu pool/1", "work_pool"),
        ("CALLSCOPE_FLOW__PART_LOST_AFTER_S", "2", "part_lost_after_s"),
        ("CALLSCOPE_FLOW__PART_CALLS", "0", "part_calls"),
    ],
)
def test_bad_fan_out_settings_are_refused_by_name(monkeypatch, key, value, says):
    from callscope.core.errors import ConfigError

    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=says):
        load_config(None)


def test_a_worker_without_a_prefect_server_says_what_to_set(tmp_path):
    env = _env(PREFECT_API_URL="http://127.0.0.1:9/api")
    command = [sys.executable, "-m", "callscope.cli", "worker", "--pool", "p"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no Prefect server answers at PREFECT_API_URL (http://127.0.0.1:9/api)" in result.stderr


def test_a_fanned_out_night_without_a_prefect_server_stops_before_any_work(tmp_path):
    env = _env()
    env.pop("PREFECT_API_URL", None)
    (tmp_path / "recordings" / DATE).mkdir(parents=True)  # the day's folder is checked first
    command = [sys.executable, "-m", "callscope.cli", "nightly", "--date", DATE, "--fan-out"]
    result = subprocess.run(
        [*command, "--warehouse", str(tmp_path / "warehouse")]
        + ["--recordings", str(tmp_path / "recordings")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    [line] = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert "PREFECT_API_URL (unset): --fan-out needs" in line
    assert not (tmp_path / "warehouse").exists()
