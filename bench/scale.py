"""A fanned-out night at a provincial centre's scale, everything but speech recognition.

    python bench/scale.py [--calls 10000 --calls 190000] [--workers 2] [--part-calls 500]
                          [--cost-ms 0] [--prestart on|off|both] [--steps-only]
                          [--database sqlite|postgresql] [--x-real-time 100 --x-real-time 200]

For each --calls N: one day of N generated calls (synth/, text only), split into parts of
--part-calls, run through a real Prefect server (its own; on SQLite, or with --database postgresql on a
throwaway PostgreSQL cluster from Debian's packages, as in production), --workers real process
workers (`callscope worker`), the night's fan-out (flows/fanout.py: submission, state and
heartbeat watching, reports), the shared warehouse's staging, the commit and every day step.
Transcription is replaced by each call's script, staged after a fixed --cost-ms per call: the
figures measure the orchestration, the storage and the day steps, not ASR. Parts tag each
batch's calls with the rule categories and embed their issue statements as the night's parts
do (the worker's share of the day's steps), which is counted as the parts' call work.

Printed: per-call orchestration overhead (the fan-out's wall time beyond the parts' own call
work spread over the workers), part scheduling latency (flow run created -> running), commit
and each day step's seconds, peak memory of every process (the night, the largest part, each
worker, the Prefect server and PostgreSQL, sampled every second); then the
projected wall time of a 190,000-call night (9,500 h of audio) for K GPUs at each
--x-real-time (per-GPU speed: bench/speed.py on the GPU in question). With --prestart both,
each N runs with workers that take one part at a time and then with pre-starting workers
(the default: the next part starts up while the current one works), and the ratio of the two
fan-out times is printed. --steps-only stages the calls directly (no Prefect: the parts in
--workers forked processes of one core each) and measures the commit and the day steps alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callscope.core.config import load_config  # noqa: E402
from callscope.pipeline.parts import (  # noqa: E402
    Heartbeat,
    beat_every_s,
    prestarted,
    report_name,
    split,
    worker_slot,
)
from callscope.pipeline.runner import StagingBatch, batch_share  # noqa: E402
from prefect import flow  # noqa: E402

START = dt.date(2026, 10, 1)
POOL = "callscope-scale-bench"
DEPLOYMENT = "scale-bench-part/scale-bench"
NIGHT_AUDIO_H = 9_500.0
NIGHT_CALLS = 190_000
TARGET_ORCHESTRATION_MS = 1.0
TARGET_COMMIT_AND_STEPS_S = 5 * 60  # the night's tail at 190,000 calls


@flow(name="scale-bench-part")
def scale_bench_part(
    date: str,
    part: str,
    call_ids: list[str],
    attempt: int = 1,
    config: str | None = None,
    recordings: str | None = None,
    warehouse: str | None = None,
) -> dict:
    """A part whose 'transcription' is the calls' scripts (read from `recordings`), staged
    like the night's after `cost_ms` per call; writes the same report as flows/part.py."""
    from callscope.storage.warehouse import Warehouse

    settings = load_config(config, warehouse=warehouse)
    day = dt.date.fromisoformat(date)
    store = Warehouse.from_settings(settings)
    bundle = json.loads((Path(recordings) / f"{part}.json").read_text(encoding="utf-8"))
    cost_s = bundle["cost_ms"] / 1000
    outcomes, work_s = [], 0.0
    flow_settings = settings.flow
    share = batch_share(settings)
    batch = StagingBatch(store, flow_settings.stage_batch_calls, flow_settings.stage_batch_s, share)
    slot = worker_slot(store, day, part, settings)
    with Heartbeat(store, day, part, attempt, beat_every_s(settings)) as beat, slot, batch:
        beat.beat(slot_waited_s=slot.waited_s)
        for n, call in enumerate(bundle["calls"], start=1):
            started = time.perf_counter()
            time.sleep(cost_s)
            row, segments = scripted_call(call, day)
            batch.stage_call(day, row, segments)
            seconds = time.perf_counter() - started
            work_s += seconds
            outcomes.append(
                {
                    "call_id": row["call_id"],
                    "status": "ok",
                    "audio_s": row["duration_s"],
                    "wall_s": round(seconds, 4),
                    "language": row["language"],
                    "n_segments": len(segments),
                    "error": None,
                }
            )
            if n % 50 == 0:
                beat.beat(done=n)
        started = time.perf_counter()
        batch.flush()  # the last batch's staging and statement embedding: the part's work
        work_s += time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    report = {**beat.record, "name": part, "outcomes": outcomes, "wall_s": round(work_s, 3)}
    report["finished_at"] = round(time.time(), 3)
    report["peak_rss_gb"] = round(peak_gb, 2)
    store.write_part_file(day, report_name(part, attempt), report)
    return {"name": part, "wall_s": work_s}


def scripted_call(call: dict, day: dt.date) -> tuple[dict, list[dict]]:
    """A bundled call's row and redacted segments, as a part stages a transcribed call."""
    from callscope.privacy.redact import REDACTION_VERSION, redact_segments

    row = {**call["row"], "date": day, "processed_at": dt.datetime.now(dt.UTC)}
    row["redaction_version"] = REDACTION_VERSION
    row["started_at"] = dt.datetime.fromisoformat(row["started_at"])
    segments = [{**s, "call_id": row["call_id"], "date": day} for s in call["segments"]]
    redact_segments(segments)
    return row, segments


def text_only_call(call, settings_hash: str) -> dict:
    """A planned call (synth/scripts.py) as the calls row and segments a night would store."""
    segments = call.segments(asr_style=True)
    row = {
        "call_id": call.call_id,
        "status": "ok",
        "started_at": call.started_at.isoformat(),
        "queue": call.queue,
        "agent_id": call.agent_id,
        "language": call.language,
        "n_segments": len(segments),
        "duration_s": round(segments[-1]["end_s"], 3) if segments else 0.0,
        "settings_hash": settings_hash,
    }
    return {"row": row, "segments": segments}


def write_bundles(folder: Path, n_calls: int, part_calls: int, cost_ms: float, seed: int):
    """The day's calls as part files of scripts and rows; returns the call ids in order."""
    from callscope.synth.scripts import plan_days

    plan = plan_days(START, 1, seed, n_calls, 0)[0]
    calls = [text_only_call(call, "scale-bench") for call in plan.calls]
    folder.mkdir(parents=True, exist_ok=True)
    ids = [c["row"]["call_id"] for c in calls]
    by_id = {c["row"]["call_id"]: c for c in calls}
    for number, part_ids in enumerate(split(ids, part_calls), start=1):
        bundle = {"cost_ms": cost_ms, "calls": [by_id[i] for i in part_ids]}
        name = f"part-{number:04d}"
        (folder / f"{name}.json").write_text(json.dumps(bundle, default=str), encoding="utf-8")
    return ids


class ProcessPeaks:
    """Each second, the resident memory of this machine's processes of the fan-out, by role:
    the largest single process of each role, and PostgreSQL's processes summed."""

    ROLES = ("worker", "part", "prefect server", "postgresql")

    def __init__(self, every_s: float = 1.0):
        self.every_s = every_s
        self.peak_gb: dict[str, float] = dict.fromkeys(self.ROLES, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ProcessPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s):
            postgres = 0.0
            for role, gb in _processes():
                if role == "postgresql":
                    postgres += gb
                else:
                    self.peak_gb[role] = max(self.peak_gb[role], gb)
            self.peak_gb["postgresql"] = max(self.peak_gb["postgresql"], postgres)

    def figures(self) -> dict[str, float]:
        return {role: round(gb, 2) for role, gb in self.peak_gb.items()}


def _processes():
    """(role, resident GB) of the processes this bench starts, known by their command lines."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        role = _role(command)
        if role is None:
            continue
        rss_kb = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        yield role, rss_kb / 2**20


def _role(command: str) -> str | None:
    if command.startswith("postgres") or "/bin/postgres" in command:
        return "postgresql"
    if "callscope.cli" in command and " worker" in command:
        return "worker"
    if "prefect.engine" in command or "prefect/engine" in command:
        return "part"
    if "prefect" in command and ("server start" in command or "uvicorn" in command):
        return "prefect server"
    return None


@contextlib.contextmanager
def prefect_database(kind: str):
    """The Prefect server's database: its own SQLite file, or a throwaway PostgreSQL cluster
    (tests/postgres.py) that the server started for the run uses."""
    if kind == "sqlite":
        yield "sqlite"
        return
    from tests.postgres import postgres_database

    with postgres_database() as url:
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = url
        try:
            yield "postgresql"
        finally:
            os.environ.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)


def run_one(n_calls: int, args, prestart: bool) -> dict:
    from callscope.flows.fanout import FanOut
    from callscope.flows.local import LocalCluster
    from callscope.pipeline.steps import DayRunner
    from callscope.storage.recordings import Recording
    from callscope.storage.warehouse import Warehouse

    from callscope.cli import worker_command

    with tempfile.TemporaryDirectory(prefix="callscope-scale-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        ids = write_bundles(root / "scripts", n_calls, args.part_calls, args.cost_ms, args.seed)
        generated_s = time.perf_counter() - started
        settings = load_config(None, warehouse=root / "warehouse", recordings=root / "scripts")
        settings = settings.model_copy(
            update={"flow": settings.flow.model_copy(update={"part_calls": args.part_calls})}
        )
        store = Warehouse.from_settings(settings)
        cluster = LocalCluster(
            args.workers,
            POOL,
            log=print,
            cpus_per_worker=1,
            prestart=prestart,
            worker_command=worker_command(),
        )
        with prefect_database(args.database) as database, ProcessPeaks() as peaks, cluster:
            _part_deployment().apply()
            params = {"recordings": str(root / "scripts"), "warehouse": str(store.root)}
            fan_out = FanOut(START, settings, store, DEPLOYMENT, params, log=_quiet)
            recordings = [Recording(call_id, START, None) for call_id in ids]
            with store.lock_day(START, "scale bench"):
                began, began_at = time.perf_counter(), time.time()
                outcomes = fan_out.run(recordings)
                fan_out_s = time.perf_counter() - began
                ended_at = time.time()
                latencies = _scheduling_latencies(fan_out)
                reports = [_part_report(store, part) for part in fan_out.parts]
                steps = DayRunner(store, START, settings).run()
            rows = store.read("calls", START, columns=["call_id"]).num_rows
    work_s = sum(o.wall_s for o in outcomes)
    overhead_s = fan_out_s - work_s / args.workers
    part_peak = max((float(r.get("peak_rss_gb") or 0.0) for r in reports), default=0.0)
    idle = idle_time(reports, began_at, ended_at)
    return {
        "calls": n_calls,
        "database": database,
        "prestart": prestart,
        "prestarted_parts": prestarted(reports),
        "committed": rows,
        "parts": len(fan_out.parts),
        "generate_s": round(generated_s, 1),
        "fan_out_s": round(fan_out_s, 1),
        "call_work_s": round(work_s, 1),
        "orchestration_ms_per_call": round(1000 * overhead_s / n_calls, 3),
        "scheduling_latency_s": latencies,
        "worker_idle_s": idle,
        "steps_s": {name: round(outcome.seconds, 1) for name, outcome in steps.items()},
        "night_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "part_peak_rss_gb": part_peak,
        "process_peak_rss_gb": peaks.figures(),
    }


def idle_time(reports: list[dict], began_at: float, ended_at: float) -> dict:
    """Where the workers' time beyond their calls went, summed over the workers: before
    their first part's calls (start-up), between one part's calls and the next's, and after
    their last part until the night saw every part done."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in reports:
        if r.get("worker") and r.get("finished_at") is not None:
            end = float(r["finished_at"])
            spans.setdefault(r["worker"], []).append((end - float(r.get("wall_s") or 0), end))
    head = between = tail = 0.0
    for runs in spans.values():
        runs.sort()
        head += runs[0][0] - began_at
        between += sum(max(0.0, b[0] - a[1]) for a, b in zip(runs, runs[1:], strict=False))
        tail += ended_at - runs[-1][1]
    gaps = max(1, sum(len(runs) - 1 for runs in spans.values()))
    return {
        "head": round(head, 1),
        "between": round(between, 1),
        "per_gap": round(between / gaps, 2),
        "tail": round(tail, 1),
    }


def run_steps_only(n_calls: int, args) -> dict:
    """The day's calls staged as parts stage them (batches of flow.stage_batch_calls), with
    no Prefect and no workers; then the commit and the day steps, as after a fan-out."""
    from callscope.pipeline.steps import DayRunner
    from callscope.storage.warehouse import Warehouse

    with tempfile.TemporaryDirectory(prefix="callscope-scale-") as tmp:
        root = Path(tmp)
        settings = load_config(None, warehouse=root / "warehouse", recordings=root / "scripts")
        store = Warehouse.from_settings(settings)
        if args.staged:
            kept = args.staged / f"{n_calls}-seed{args.seed}-parts{args.part_calls}"
            if not (kept / "staged.json").is_file():
                shutil.rmtree(kept, ignore_errors=True)
                staged_s = _stage_day(kept, n_calls, args)
                (kept / "staged.json").write_text(json.dumps({"staging_s": staged_s}))
            staged_s = json.loads((kept / "staged.json").read_text())["staging_s"]
            shutil.copytree(kept / "warehouse", root / "warehouse")
        else:
            staged_s = _stage_day(root, n_calls, args)
        with store.lock_day(START, "scale bench"):
            steps = DayRunner(store, START, settings).run()
        rows = store.read("calls", START, columns=["call_id"]).num_rows
    return {
        "calls": n_calls,
        "committed": rows,
        "staging_s": round(staged_s, 1),
        "steps_s": {name: round(outcome.seconds, 1) for name, outcome in steps.items()},
        "night_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def _stage_day(root: Path, n_calls: int, args) -> float:
    """The day's calls staged under `root` by --workers processes; returns the seconds."""
    write_bundles(root / "scripts", n_calls, args.part_calls, 0.0, args.seed)
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "scripts")
    started = time.perf_counter()
    parts = sorted((root / "scripts").glob("part-*.json"))
    with multiprocessing.get_context("fork").Pool(args.workers, maxtasksperchild=20) as pool:
        pool.starmap(_stage_part, [(path, settings) for path in parts], chunksize=1)
    return round(time.perf_counter() - started, 1)


def _stage_part(path: Path, settings) -> None:
    """One part's calls staged as a worker with one core stages them."""
    from callscope.storage.warehouse import Warehouse

    os.environ["CALLSCOPE_WORKER_CPUS"] = "1"
    store = Warehouse.from_settings(settings)
    share = batch_share(settings)
    bundle = json.loads(path.read_text(encoding="utf-8"))
    with StagingBatch(store, settings.flow.stage_batch_calls, 1e9, share) as batch:
        for call in bundle["calls"]:
            batch.stage_call(START, *scripted_call(call, START))


def report_steps_only(results: list[dict]) -> None:
    print(
        "\n(steps only: calls staged directly, no Prefect, no workers, no ASR; staging "
        "redacts, tags and embeds the calls, as the parts do)"
    )
    for r in results:
        steps = r["steps_s"]
        total = sum(steps.values())
        flag = "met" if r["calls"] == NIGHT_CALLS and total < TARGET_COMMIT_AND_STEPS_S else ""
        print(f"\nN = {r['calls']:,} calls: committed {r['committed']:,}")
        print(f"  staging (the parts' share, not a day step): {r['staging_s']} s")
        print("  day steps: " + ", ".join(f"{k} {v} s" for k, v in steps.items()))
        target = (
            f" (target < {TARGET_COMMIT_AND_STEPS_S / 60:g} min: {flag or 'NOT met'})"
            if r["calls"] == NIGHT_CALLS
            else ""
        )
        print(f"  commit + day steps: {total:.1f} s = {total / 60:.1f} min{target}")
        print(f"  peak memory of the night process: {r['night_peak_rss_gb']} GB")


def _part_deployment():
    """The bench part by module path (`scale.scale_bench_part`), which the workers import
    with bench/ on their PYTHONPATH (set in main)."""
    import scale  # this file as a module, not __main__
    from prefect.types.entrypoint import EntrypointType

    return scale.scale_bench_part.to_deployment(
        name="scale-bench", work_pool_name=POOL, entrypoint_type=EntrypointType.MODULE_PATH
    )


def _part_report(store, part) -> dict:
    attempt = part.attempts[-1].attempt
    record, _ = store.read_part_file(START, report_name(part.name, attempt))
    return record or {}


def _quiet(message: str) -> None:
    if "again" in message or "out of retries" in message or "no worker" in message:
        print(message)


def _scheduling_latencies(fan_out) -> dict:
    from prefect.client.orchestration import get_client

    waits = []
    with get_client(sync_client=True) as client:
        for part in fan_out.parts:
            for attempt in part.attempts:
                run = client.read_flow_run(attempt.flow_run_id)
                if run.start_time and run.created:
                    waits.append((run.start_time - run.created).total_seconds())
    if not waits:
        return {}
    return {
        "p50": round(statistics.median(waits), 1),
        "max": round(max(waits), 1),
        "first": round(min(waits), 1),
    }


def report(results: list[dict], args) -> None:
    print(
        "\n(transcription replaced by the calls' scripts at a fixed "
        f"{args.cost_ms:g} ms per call: everything but ASR is measured)"
    )
    for r in results:
        steps = r["steps_s"]
        commit_and_steps = sum(steps.values())
        how = "pre-starting workers" if r["prestart"] else "workers taking one part at a time"
        print(
            f"\nN = {r['calls']:,} calls, {r['parts']} parts of {args.part_calls}, "
            f"{args.workers} {how}, Prefect server on {r['database']}: "
            f"committed {r['committed']:,}"
        )
        if r["prestart"]:
            print(
                "  parts that started up while the one before them on their worker worked: "
                f"{r['prestarted_parts']} of {r['parts']}"
            )
        print(f"  fan-out {r['fan_out_s']} s (call work {r['call_work_s']} s in the parts)")
        flag = "met" if r["orchestration_ms_per_call"] < TARGET_ORCHESTRATION_MS else "NOT met"
        print(
            f"  orchestration per call: {r['orchestration_ms_per_call']} ms "
            f"(target < {TARGET_ORCHESTRATION_MS} ms: {flag})"
        )
        lat = r["scheduling_latency_s"]
        per_part = (r["fan_out_s"] * args.workers - r["call_work_s"]) / max(r["parts"], 1)
        print(
            f"  part scheduling latency (created -> running): first {lat.get('first')} s "
            f"(idle workers), p50 {lat.get('p50')} s and max {lat.get('max')} s (with the wait "
            "for a free worker)"
        )
        print(f"  fixed cost per part (worker time beyond its calls): {per_part:.1f} s")
        idle = r["worker_idle_s"]
        print(
            f"  workers' idle time, summed: {idle['head']} s before their first part, "
            f"{idle['between']} s between parts ({idle['per_gap']} s a gap), "
            f"{idle['tail']} s after their last"
        )
        print("  day steps: " + ", ".join(f"{k} {v} s" for k, v in steps.items()))
        print(f"  commit + day steps: {commit_and_steps:.1f} s")
        sampled = r["process_peak_rss_gb"]
        print(
            f"  peak memory: night {r['night_peak_rss_gb']} GB, largest part process "
            f"{r['part_peak_rss_gb']} GB, largest worker {sampled['worker']} GB, Prefect server "
            f"{sampled['prefect server']} GB, PostgreSQL (all its processes) "
            f"{sampled['postgresql']} GB"
        )
    for n in sorted({r["calls"] for r in results}):
        off, on = (
            next((r for r in results if r["calls"] == n and r["prestart"] is p), None)
            for p in (False, True)
        )
        if off and on:
            print(
                f"\nN = {n:,}: fan-out with pre-starting workers / one part at a time = "
                f"{on['fan_out_s']} / {off['fan_out_s']} s = {on['fan_out_s'] / off['fan_out_s']:.2f}"
            )
    scaling_table([r for r in results if r["prestart"] or args.prestart == "off"])
    last = max(results, key=lambda r: (r["calls"], r["prestart"]))
    scale = NIGHT_CALLS / last["calls"]
    tail_s = sum(last["steps_s"].values()) * scale
    orchestration_s = last["orchestration_ms_per_call"] * NIGHT_CALLS / 1000
    measured = (
        "measured"
        if last["calls"] == NIGHT_CALLS
        else f"scaled x{scale:.0f} from N={last['calls']:,}"
    )
    flag = "met" if tail_s < TARGET_COMMIT_AND_STEPS_S else "NOT met"
    print(
        f"\n190,000-call night: commit + day steps {tail_s / 60:.1f} min ({measured}; "
        f"target < {TARGET_COMMIT_AND_STEPS_S / 60:g} min: {flag})"
    )
    print(
        f"projected wall time for {NIGHT_AUDIO_H:,.0f} h of audio (ASR + orchestration + "
        "commit and steps):"
    )
    print(f"  {'GPUs':>5} " + " ".join(f"{f'{x:g}x':>9}" for x in args.x_real_time))
    for gpus in (8, 16, 32, 64):
        cells = []
        for x in args.x_real_time:
            hours = NIGHT_AUDIO_H / (gpus * x) + (orchestration_s / gpus + tail_s) / 3600
            cells.append(f"{hours:8.1f}h")
        print(f"  {gpus:>5} " + " ".join(cells))


def scaling_table(results: list[dict]) -> None:
    """One row per N: how the fan-out, the orchestration and the tail grow with the calls."""
    if len(results) < 2:
        return
    print("\nscaling (Markdown):")
    print(
        "| calls | parts | fan-out s | call work s | orchestration ms/call | commit + steps s "
        "| steps ms/call | peak GB: night / part / worker / server / PostgreSQL |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(results, key=lambda r: r["calls"]):
        tail = sum(r["steps_s"].values())
        peaks = r["process_peak_rss_gb"]
        memory = " / ".join(
            str(value)
            for value in (
                r["night_peak_rss_gb"],
                r["part_peak_rss_gb"],
                peaks["worker"],
                peaks["prefect server"],
                peaks["postgresql"],
            )
        )
        print(
            f"| {r['calls']:,} | {r['parts']} | {r['fan_out_s']} | {r['call_work_s']} | "
            f"{r['orchestration_ms_per_call']} | {tail:.1f} | {1000 * tail / r['calls']:.2f} "
            f"| {memory} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, action="append")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--part-calls", type=int, default=500)
    parser.add_argument("--cost-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--x-real-time", type=float, action="append")
    parser.add_argument("--prestart", choices=["on", "off", "both"], default="on")
    parser.add_argument(
        "--steps-only", action="store_true", help="stage directly, then commit and day steps"
    )
    parser.add_argument(
        "--staged",
        type=Path,
        help="with --steps-only: a folder that keeps each size's staged day (staged there on the "
        "first run, copied on later ones), to time the commit and day steps again",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the Prefect server's database (postgresql: a throwaway cluster, Debian's packages)",
    )
    args = parser.parse_args()
    args.calls = args.calls or [10_000]
    args.x_real_time = args.x_real_time or [50.0, 100.0, 200.0]
    paths = [str(ROOT / "bench"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)  # for the workers
    results = []
    if args.steps_only:
        results = [run_steps_only(n, args) for n in args.calls]
        for result in results:
            print(json.dumps(result), flush=True)
        report_steps_only(results)
        return 0
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.prestart]
    for n in args.calls:
        for prestart in modes:
            results.append(run_one(n, args, prestart))
            print(json.dumps(results[-1]), flush=True)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
