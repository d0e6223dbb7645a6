"""The CUDA check of one single-GPU machine with no network, fed by bench/device_pack.py.

    python bench/device_pack.py                   # on a machine with PyPI: .devpack/part1..N
    bash bench/device_check.sh [--out DIR]        # on the GPU machine, once per part, with
                                                  # .devpack/partK and .devpack/manifest.json

Each call moves the parts it finds under .devpack/ into the staging folder (.devstage/, kept
between calls), and says which parts are still to come. The call that completes the set joins
and verifies the files (sha256), installs the wheels into .devstage/site (beside the image's
own torch and transformers) and runs the checks, each under its own time limit and all of
them under --budget seconds:

1. env: GPU, driver, torch and CUDA versions;
2. gpu-tests: `pytest -m gpu` (transformers ASR in float16 on CUDA, diarization and the
   emotion models on CUDA against CPU);
3. accuracy: bench/accuracy.py with the transformers backend on CUDA and pkg:whisper-base,
   CER / WER on the evaluation clips (the CPU figures, measured with the same weights, are
   in the README);
4. diarization: bench/diarization.py on CUDA, DER and x real time;
5. throughput: bench/gpu.py on CUDA, x real time and peak memory per model and batch size.

A step's log goes to OUT/<step>.log as it runs; OUT/summary.md lists each step's exit status,
time and last lines. Rerunning skips the joining and installing already done. `--device cpu`
rehearses the same steps on a machine without a GPU (the gpu tests then skip).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_SLOWER = 5  # a rehearsal on CPU gets this many times each step's limit
GPU_TESTS = [
    "tests/test_asr_transformers.py",
    "tests/test_diarization.py",
    "tests/test_emotion_hf.py",
]


def stage_parts(pack: Path, stage: Path) -> None:
    """Move the parts that arrived under `pack` into `stage`, which outlives the call."""
    pieces = stage / "pieces"
    pieces.mkdir(parents=True, exist_ok=True)
    if (pack / "manifest.json").is_file():
        shutil.copy2(pack / "manifest.json", stage / "manifest.json")
    for part in sorted(pack.glob("part*")):
        names = [piece.name for piece in part.iterdir()]
        for name in names:
            shutil.move(part / name, pieces / name)
        print(f"staged {part.name}: {len(names)} pieces", flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_parts(stage: Path, manifest: dict) -> list[int]:
    missing = set()
    for target, entry in manifest["files"].items():
        if _joined(stage, target, entry):
            continue
        missing |= {
            p["part"] for p in entry["pieces"] if not (stage / "pieces" / p["name"]).is_file()
        }
    return sorted(missing)


def _joined(stage: Path, target: str, entry: dict) -> bool:
    path = stage / "files" / target
    return path.is_file() and path.stat().st_size == entry["size"]


def join_files(stage: Path, manifest: dict) -> None:
    for target, entry in manifest["files"].items():
        if _joined(stage, target, entry):
            continue
        path = stage / "files" / target
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as joined:
            for piece in entry["pieces"]:
                with (stage / "pieces" / piece["name"]).open("rb") as source:
                    shutil.copyfileobj(source, joined, 16 << 20)
        if sha256(partial) != entry["sha256"]:
            partial.unlink()
            raise SystemExit(
                f"{target}: checksum mismatch; pack again (bench/device_pack.py) and resend"
            )
        partial.rename(path)
        for piece in entry["pieces"]:
            (stage / "pieces" / piece["name"]).unlink(missing_ok=True)


def install(stage: Path, python: str) -> Path:
    site = stage / "site"
    done = site / ".installed"
    if done.is_file():
        return site
    wheels = sorted((stage / "files" / "wheels").glob("*.whl"))
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)],
        check=True,
    )  # fmt: skip
    extra = stage / "files" / "site"
    if extra.is_dir():
        shutil.copytree(extra, site, dirs_exist_ok=True)
    done.write_text(f"{len(wheels)} wheels\n")
    print(f"installed {len(wheels)} wheels into {site}", flush=True)
    return site


def steps(device: str, eval_dir: Path, minutes: float) -> list[tuple[str, list[str], int]]:
    py = sys.executable
    env_probe = (
        "import torch, transformers, platform; print('python', platform.python_version(), "
        "'torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', "
        "transformers.__version__); print([torch.cuda.get_device_name(i) "
        "for i in range(torch.cuda.device_count())] or 'no CUDA GPU visible to torch')"
    )
    evals = ["--eval", str(eval_dir)]
    return [
        ("env", [py, "-c", env_probe], 60),
        ("gpu-tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
                       *GPU_TESTS], 180),
        ("accuracy", [py, "bench/accuracy.py", "--backends", "transformers", "--no-bare",
                      *evals], 150),
        ("diarization", [py, "bench/diarization.py", "--no-roles", *evals], 120),
        ("throughput", [py, "bench/gpu.py", "--device", device, "--audio", str(eval_dir),
                        "--minutes", str(minutes),
                        "--batch-sizes", "8,16,32,64" if device == "cuda" else "4,8"], 300),
    ]  # fmt: skip


def run_step(name: str, command: list[str], limit: float, env: dict, out: Path) -> dict:
    print(f"== {name} (limit {limit:.0f} s): {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    lines: list[str] = []
    with (out / f"{name}.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True,
        )  # fmt: skip
        try:
            for line in _lines_until(process, started + limit):
                log.write(line)
                lines.append(line.rstrip())
                print(line, end="", flush=True)
            rc = process.wait()
        except TimeoutError:
            os.killpg(process.pid, 9)
            process.wait()
            rc = "timeout"
    seconds = time.monotonic() - started
    print(f"== {name}: {rc} in {seconds:.0f} s", flush=True)
    return {"step": name, "rc": rc, "seconds": round(seconds, 1), "tail": lines[-25:]}


def _lines_until(process, deadline: float):
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if selector.select(timeout=min(left, 5)):
            line = process.stdout.readline()
            if not line:
                return
            yield line


def write_summary(out: Path, results: list[dict], device: str) -> None:
    text = [f"# Device check ({device})", ""]
    for r in results:
        text += [f"## {r['step']}: exit {r['rc']}, {r['seconds']} s", "```", *r["tail"], "```", ""]
    (out / "summary.md").write_text("\n".join(text), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", type=Path, default=REPO / ".devpack", help="parts arrive here")
    parser.add_argument("--stage", type=Path, default=REPO / ".devstage")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ".devstage/out"))
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--budget", type=float, default=450, help="seconds for all the checks")
    parser.add_argument("--minutes", type=float, default=60, help="audio per throughput row")
    parser.add_argument("--steps", default="env,gpu-tests,accuracy,diarization,throughput")
    args = parser.parse_args()
    stage = args.stage.resolve()
    stage_parts(args.pack, stage)
    if not (stage / "manifest.json").is_file():
        sys.exit("no .devpack/manifest.json arrived: send it with the first part")
    manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
    missing = missing_parts(stage, manifest)
    if missing:
        print(f"waiting for parts {missing} of {manifest['parts']}: send them next", flush=True)
        return 0
    join_files(stage, manifest)
    site = install(stage, sys.executable)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env |= {
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "PYANNOTE_METRICS_ENABLED": "0",
        "CALLSCOPE_MODEL_CACHE": str(stage / "models"),
        "CALLSCOPE_ASR__BACKEND": "transformers",
        "CALLSCOPE_ASR__DEVICE": args.device,
        "CALLSCOPE_DIARIZATION__DEVICE": args.device,
        "CALLSCOPE_EMOTION__DEVICE": args.device,
    }
    deadline = time.monotonic() + args.budget
    wanted = args.steps.split(",")
    results = []
    for name, command, limit in steps(args.device, stage / "files" / "eval", args.minutes):
        left = deadline - time.monotonic()
        if name not in wanted:
            continue
        if left < 10:
            results.append({"step": name, "rc": "not run", "seconds": 0, "tail": ["no time left"]})
            continue
        limit *= 1 if args.device == "cuda" else CPU_SLOWER
        results.append(run_step(name, command, min(limit, left), env, out))
        write_summary(out, results, args.device)
    failed = [r["step"] for r in results if r["rc"] != 0]
    print(f"device check done; failed or not run: {failed or 'none'}; summary in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
