"""A new rule over a range of past days: how long the backfill and the dry-run take.

    python bench/backfill.py --days 7 --calls 20000 [--workers 2] [--seed 7] [--staged DIR]
                             [--no-serial]

Stages --days generated days of --calls text-only calls each (synth/, as
`bench/scale.py --steps-only` does: no audio, no ASR) and runs each day's night steps, untimed.
Then, timed:

- apply_s: `categories apply --from D1 --to D2 --workers W` of the rule file with one NEW
  category of three phrases, cascade included (emotion, search rows, incidents, hand-off);
- try_s: `categories try` of another rule over the range (calls it would tag per day);
- serial_apply_s: the same apply on a copy of the staged warehouse, in one process and with
  every rule of every stale call re-tagged (one rules version, as before per-category
  versions): the reference for the ratio.

With --staged DIR the staged days are kept in DIR (staged there on the first run, reused by
later runs of the same --days, --calls, --seed and --incidents): the timed part then runs on
copies, so that it can be measured again, on a quiet machine, without staging again.

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from callscope.core.config import load_config  # noqa: E402

START = dt.date(2026, 10, 1)
NEW_CATEGORY = {
    "name": "new_phone_preorder",
    "label": "新机预约 · new phone pre-order",
    "complaint_class": "business",
    "rules": [{"speaker": "customer", "any": ["预约", "首发", "新手机"]}],
}
TRIED_RULE = {"name": "refund_asked", "rules": [{"any": ["退款", "退钱", "refund"]}]}
TARGET_APPLY_S, TARGET_TRY_S = 60.0, 5.0


def bench_settings(warehouse: Path, incidents: bool):
    settings = load_config(None, warehouse=warehouse)
    update = {"enabled": settings.incidents.enabled and incidents}
    return settings.model_copy(update={"incidents": settings.incidents.model_copy(update=update)})


def stage_days(root: Path, days: int, calls: int, seed: int, incidents: bool = True):
    """`days` days of `calls` scripted calls staged as the night's parts stage them (the days
    on every core at once), then each day's night steps in date order; returns the settings
    of that warehouse."""
    import multiprocessing

    from callscope.pipeline.steps import DayRunner
    from callscope.storage.warehouse import Warehouse
    from callscope.synth.scripts import plan_days

    settings = bench_settings(root / "warehouse", incidents)
    plans = list(plan_days(START, days, seed, calls, 0))
    jobs = [(root, plan, incidents) for plan in plans]
    processes = min(len(jobs), os.cpu_count() or 1)
    with multiprocessing.get_context("fork").Pool(processes, maxtasksperchild=1) as pool:
        pool.starmap(_stage_day, jobs, chunksize=1)
    store = Warehouse.from_settings(settings)
    for plan in plans:
        DayRunner(store, plan.date, settings).run()
    return settings


def _stage_day(root: Path, plan, incidents: bool) -> None:
    os.environ["CALLSCOPE_WORKER_CPUS"] = "1"  # the statement encoder on this process's core alone
    from callscope.pipeline.runner import StagingBatch, batch_share
    from callscope.storage.warehouse import Warehouse
    from scale import scripted_call, text_only_call

    settings = bench_settings(root / "warehouse", incidents)
    store = Warehouse.from_settings(settings)
    share = batch_share(settings)
    with StagingBatch(store, settings.flow.stage_batch_calls, 1e9, share) as batch:
        for call in plan.calls:
            bundle = text_only_call(call, "backfill-bench")
            batch.stage_call(plan.date, *scripted_call(bundle, plan.date))


def with_rules(root: Path, settings, extra: dict, name: str):
    """The settings with a rule file of the current categories plus `extra`."""
    rules = yaml.safe_load(Path(settings.keywords.rules).read_text(encoding="utf-8"))
    rules["categories"].append(extra)
    path = root / name
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    keywords = settings.keywords.model_copy(update={"rules": path})
    return settings.model_copy(update={"keywords": keywords})


def timed_apply(settings, days: list[dt.date], workers: int, serial: bool) -> tuple[float, dict]:
    from callscope.pipeline.backfill import apply_categories_range

    started = time.perf_counter()
    rows = apply_categories_range(settings, days, workers=workers, whole_rule_set=serial)
    return time.perf_counter() - started, rows


def timed_try(settings, days: list[dt.date]) -> tuple[float, dict]:
    """`categories try` in this process: reading the days and tagging the candidates."""
    from callscope.keywords.backfill import try_rules
    from callscope.keywords.rules import RuleSet
    from callscope.storage.warehouse import Warehouse

    started = time.perf_counter()
    rules = RuleSet(categories=[TRIED_RULE]).with_sounds(settings.keywords.sounds_like)
    found = try_rules(Warehouse.from_settings(settings), days, rules)
    seconds = time.perf_counter() - started
    return seconds, {
        day.isoformat(): row["categories"][TRIED_RULE["name"]] for day, row in found.items()
    }


def timed_try_command(settings, days: list[dt.date]) -> tuple[float, dict]:
    """`categories try` as the command runs it, start-up and rule parsing included."""
    import subprocess

    started = time.perf_counter()
    command = [sys.executable, "-m", "callscope.cli", "categories", "try"]
    command += ["--rule", json.dumps(TRIED_RULE, ensure_ascii=False), "--json"]
    command += ["--from", days[0].isoformat(), "--to", days[-1].isoformat()]
    command += ["--warehouse", str(settings.warehouse)]
    found = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    rows = json.loads(found.stdout)["days"]
    return seconds, {row["date"]: row["categories"][TRIED_RULE["name"]] for row in rows}


def _step_seconds(summaries: dict) -> dict[str, float]:
    """Each step's seconds summed over the days (the tagging ones in the workers)."""
    total: dict[str, float] = {}
    for summary in summaries.values():
        for name, seconds in summary["seconds"].items():
            total[name] = round(total.get(name, 0.0) + seconds, 2)
    return total


def staged_days(folder: Path, args) -> Path:
    """The warehouse of the staged days kept in `folder`, staged there when it is not yet."""
    key = f"{args.days}x{args.calls}-seed{args.seed}-incidents-{args.incidents}"
    done = folder / key / "staged.json"
    if not done.is_file():
        shutil.rmtree(folder / key, ignore_errors=True)
        started = time.perf_counter()
        stage_days(folder / key, args.days, args.calls, args.seed, args.incidents == "on")
        seconds = round(time.perf_counter() - started, 1)
        done.write_text(json.dumps({"staging_s": seconds}), encoding="utf-8")
    return folder / key / "warehouse"


def bring_current(settings, days: list[dt.date]) -> None:
    """Kept days staged by an earlier version: score their emotion, index them and cluster
    their incidents as this version keeps them (its records of the scores, of the indexed
    partitions and of the clustered day), as the first night or apply after an upgrade does
    once."""
    from callscope.pipeline.steps import DayRunner
    from callscope.storage.warehouse import Warehouse

    store = Warehouse.from_settings(settings)
    for day in days:
        steps = ["emotion", "index", "incidents"]
        DayRunner(store, day, settings).run("emotion", force=True, only=steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000, help="calls a day")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--incidents",
        choices=["on", "off"],
        default="on",
        help="off: no statement embedding when staging, and no incidents or hand-off in the "
        "cascade (the staging of a large range within a shared machine's minutes)",
    )
    parser.add_argument("--staged", type=Path, help="folder that keeps the staged days")
    parser.add_argument(
        "--no-serial", action="store_true", help="skip the serial reference (serial_apply_s)"
    )
    args = parser.parse_args()
    incidents = args.incidents == "on"
    with tempfile.TemporaryDirectory(prefix="callscope-backfill-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        if args.staged:
            staged = staged_days(args.staged, args)
            shutil.copytree(staged, root / "warehouse")
            settings = bench_settings(root / "warehouse", incidents)
            bring_current(settings, [START + dt.timedelta(days=n) for n in range(args.days)])
        else:
            settings = stage_days(root, args.days, args.calls, args.seed, incidents)
        staging_s = time.perf_counter() - started
        days = [START + dt.timedelta(days=n) for n in range(args.days)]
        if not args.no_serial:
            shutil.copytree(root / "warehouse", root / "serial")
        new_rules = with_rules(root, settings, NEW_CATEGORY, "rules.yaml")
        apply_s, applied = timed_apply(new_rules, days, args.workers, serial=False)
        try_s, counts = timed_try(new_rules, days)
        try_command_s, by_command = timed_try_command(new_rules, days)
        assert by_command == counts, (by_command, counts)
        serial_apply_s, serial_applied = None, {}
        if not args.no_serial:
            serial = bench_settings(root / "serial", incidents)
            serial = with_rules(root, serial, NEW_CATEGORY, "rules-serial.yaml")
            serial_apply_s, serial_applied = timed_apply(serial, days, 1, serial=True)
    result = {
        "days": args.days,
        "calls": args.days * args.calls,
        "workers": args.workers,
        "staging_s": round(staging_s, 1),
        "apply_s": round(apply_s, 2),
        "serial_apply_s": round(serial_apply_s, 2) if serial_apply_s else None,
        "speed_up": round(serial_apply_s / apply_s, 2) if serial_apply_s and apply_s else None,
        "try_s": round(try_s, 2),
        "try_command_s": round(try_command_s, 2),
        "incidents": incidents,
        "try_calls_per_day": counts,
        "tagged_now": sum(row["tagged_now"] for row in applied.values()),
        "apply_steps_s": _step_seconds(applied),
        "serial_steps_s": _step_seconds(serial_applied),
        "cpus": os.cpu_count(),
    }
    print(
        f"{result['calls']:,} calls over {args.days} days: apply {apply_s:.1f} s with "
        f"{args.workers} workers (target < {TARGET_APPLY_S:g} s), serial whole-rule-set apply "
        f"{result['serial_apply_s']} s, try {try_s:.2f} s (target < {TARGET_TRY_S:g} s)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
