"""Does a call's result depend on how the night ran? The same day through the single-process
night, `--workers 2` (a local Prefect server and two workers, each with a share of the cores)
and a rerun; prints how many calls and segments differ (text, speaker, times).

    python bench/determinism.py [--day demo|eval] [--workers 2] [--keep DIR]

`--day demo` is the bundled demo day; `--day eval` builds a second day from the evaluation
clips in ../shared/eval (Mandarin clips, English calls in stereo and as mono mixes, a two-party
telephone conversation); it is never committed and the run skips when the folder is absent.
Exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT))

from callscope.storage.warehouse import Warehouse  # noqa: E402
from callscope.synth.demoday import DEMO_DATE, build_demo_day  # noqa: E402

CALL_COLUMNS = ["call_id", "status", "language", "n_segments", "channel_layout", "n_speakers"]
SEGMENT_COLUMNS = ["call_id", "idx", "speaker", "start_s", "end_s", "text", "text_redacted"]


def build_eval_day(folder: Path, day: dt.date) -> int:
    """Mono and stereo mixes of the evaluation clips as one day; returns the calls made."""
    out = folder / day.isoformat()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted((EVAL / "zh").glob("*.wav")) + sorted((EVAL / "en").glob("*.flac")):
        data, rate = sf.read(path, always_2d=True)
        name = f"{path.parent.name}-{path.stem}"
        sf.write(out / f"{name}.wav", data.mean(axis=1), rate)
        rows.append({"call_id": name, "channel_layout": "mono"})
    for path in sorted((EVAL / "calls").glob("*.flac")):
        data, rate = sf.read(path, always_2d=True)
        stereo, mono = f"{path.stem}-stereo", f"{path.stem}-mono"
        sf.write(out / f"{stereo}.flac", data, rate)
        sf.write(out / f"{mono}.flac", data.mean(axis=1).astype(np.float32), rate)
        rows += [
            {"call_id": stereo, "channel_layout": "customer_left"},
            {"call_id": mono, "channel_layout": "mono"},
        ]
    sample = EVAL / "diarization" / "sample.wav"
    if sample.is_file():
        data, rate = sf.read(sample)
        sf.write(out / "diarization-sample.wav", data, rate)
        rows.append({"call_id": "diarization-sample", "channel_layout": "mono"})
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["call_id", "channel_layout"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def night(recordings: Path, warehouse: Path, day: dt.date, *options: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLSCOPE_")}
    env.pop("PREFECT_API_URL", None)  # each night runs on a server of its own
    command = [sys.executable, "-m", "callscope.cli", "nightly", "--date", day.isoformat()]
    command += ["--recordings", str(recordings), "--warehouse", str(warehouse), "--json"]
    done = subprocess.run(
        [*command, *options], env=env, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(f"night failed ({' '.join(options)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def rows(store: Warehouse, table: str, columns: list[str], day: dt.date) -> dict[tuple, tuple]:
    key = 2 if table == "segments" else 1
    found = store.read(table, day).select(columns).to_pylist()
    return {tuple(r[c] for c in columns[:key]): tuple(r[c] for c in columns) for r in found}


def differ(a: dict, b: dict) -> int:
    return sum(a.get(key) != b.get(key) for key in set(a) | set(b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", choices=["demo", "eval"], default="demo")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the warehouses here")
    args = parser.parse_args()
    if args.day == "eval" and not EVAL.is_dir():
        print(f"skipped: no evaluation data at {EVAL.relative_to(ROOT.parent)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="callscope-determinism-") as tmp:
        root = args.keep or Path(tmp)
        recordings, day = root / "recordings", DEMO_DATE
        if args.day == "demo":
            build_demo_day(recordings)
        else:
            build_eval_day(recordings, day)
        one = night(recordings, root / "single", day)
        fanned = night(recordings, root / "fanned", day, "--workers", str(args.workers))
        again = night(recordings, root / "single", day)
        stores = Warehouse(root / "single"), Warehouse(root / "fanned")
        calls = [rows(store, "calls", CALL_COLUMNS, day) for store in stores]
        segments = [rows(store, "segments", SEGMENT_COLUMNS, day) for store in stores]
    calls_differ, segments_differ = differ(*calls), differ(*segments)
    print(
        f"day {args.day}: {one['calls']} calls ({one['ok']} ok, {one['error']} error), "
        f"{len(segments[0])} segments in one process, {len(segments[1])} with --workers "
        f"{args.workers}"
    )
    print(f"calls that differ: {calls_differ}; segments that differ: {segments_differ}")
    print(
        f"rerun: {again['skipped']} calls skipped (same key), {again['ok']} redone; "
        f"fanned-out night {fanned['wall_s']:.0f} s, one process {one['wall_s']:.0f} s"
    )
    return 1 if calls_differ or segments_differ or again["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
