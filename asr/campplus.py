"""CAM++ speaker embeddings (3D-Speaker's published architecture) as a pyannote.audio model.

The network follows the CAM++ paper (Wang et al., Interspeech 2023): a 2-D convolutional
front end over 80 log-mel filterbanks, three densely connected TDNN blocks whose layers gate
their output with context-aware masks (utterance mean plus 100-frame segment means), statistics
pooling and a 192-d linear embedding. Module names match the published state_dict, so the
zh/en `campplus_cn_en_common.pt` weights load directly.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from callscope.core.torch_compat import import_pyannote, import_torchaudio
from torch import nn

FEATURE_DIM = 80
EMBEDDING_DIM = 192
DENSE_BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))  # (layers, kernel, dilation)
GROWTH = 32
BOTTLENECK = 128
INIT_CHANNELS = 128
CONTEXT_SEGMENT = 100


def _bn_relu(channels: int, relu: bool = True, affine: bool = True) -> nn.Sequential:
    parts = OrderedDict(batchnorm=nn.BatchNorm1d(channels, affine=affine))
    if relu:
        parts["relu"] = nn.ReLU()
    return nn.Sequential(parts)


class ResBlock2d(nn.Module):
    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class FrequencyFrontEnd(nn.Module):
    """2-D convolutions over (frequency, time); frequency is downsampled 8x."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(ResBlock2d(channels, 2), ResBlock2d(channels, 1))
        self.layer2 = nn.Sequential(ResBlock2d(channels, 2), ResBlock2d(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (FEATURE_DIM // 8)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(features.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.flatten(1, 2)


class ContextMask(nn.Module):
    """A dilated convolution gated by a mask computed from utterance and segment context."""

    def __init__(self, channels: int, out_channels: int, kernel: int, dilation: int):
        super().__init__()
        padding = (kernel - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(-1, keepdim=True) + _segment_means(x, CONTEXT_SEGMENT)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * mask


def _segment_means(x: torch.Tensor, length: int) -> torch.Tensor:
    means = F.avg_pool1d(x, kernel_size=length, stride=length, ceil_mode=True)
    return means.repeat_interleave(length, dim=-1)[..., : x.shape[-1]]


class DenseLayer(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(channels)
        self.linear1 = nn.Conv1d(channels, BOTTLENECK, 1, bias=False)
        self.nonlinear2 = _bn_relu(BOTTLENECK)
        self.cam_layer = ContextMask(BOTTLENECK, GROWTH, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseBlock(nn.ModuleDict):
    def __init__(self, layers: int, channels: int, kernel: int, dilation: int):
        super().__init__(
            {
                f"tdnnd{i + 1}": DenseLayer(channels + i * GROWTH, kernel, dilation)
                for i in range(layers)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.values():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Module):
    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = _bn_relu(channels)
        self.linear = nn.Conv1d(channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class Projection(nn.Module):
    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(channels, out_channels, 1, bias=False)
        self.nonlinear = _bn_relu(out_channels, relu=False, affine=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(stats.unsqueeze(-1))).squeeze(-1)


class TdnnLayer(nn.Module):
    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(channels, out_channels, 5, stride=2, padding=2, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class CamPlusPlus(nn.Module):
    """Frame features (batch, frames, 80) -> frame-level maps; `embed` pools and projects."""

    def __init__(self):
        super().__init__()
        self.head = FrequencyFrontEnd()
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            tdnn=TdnnLayer(self.head.out_channels, INIT_CHANNELS)
        )
        channels = INIT_CHANNELS
        for i, (n_layers, kernel, dilation) in enumerate(DENSE_BLOCKS, start=1):
            layers[f"block{i}"] = DenseBlock(n_layers, channels, kernel, dilation)
            channels += n_layers * GROWTH
            layers[f"transit{i}"] = Transition(channels, channels // 2)
            channels //= 2
        layers["out_nonlinear"] = _bn_relu(channels)
        layers["dense"] = Projection(2 * channels, EMBEDDING_DIM)
        self.xvector = nn.Sequential(layers)

    def frames(self, features: torch.Tensor) -> torch.Tensor:
        x = self.head(features.transpose(1, 2))
        for name, layer in self.xvector.named_children():
            if name != "dense":
                x = layer(x)
        return x

    def embed(self, features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        frames = self.frames(features)
        return self.xvector.dense(weighted_stats(frames, weights))


def weighted_stats(frames: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Statistics pooling of (batch, channels, frames), each frame weighted (batch, any
    number of frames, resampled to the maps') in 0..1; all frames count fully without weights."""
    if weights is None:
        w = frames.new_ones(frames.shape[0], frames.shape[-1])
    else:
        w = F.interpolate(weights.unsqueeze(1).float(), size=frames.shape[-1], mode="nearest")[:, 0]
    return torch.cat([masked_stats(f, w[i : i + 1]) for i, f in enumerate(frames)])


def masked_stats(frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean and (unbiased) standard deviation of (channels, frames) maps under each of
    (masks, frames) weights: (masks, 2 * channels)."""
    total = weights.sum(dim=1, keepdim=True)
    mean = weights @ frames.T / total
    second = weights @ (frames.T**2) / total
    var = (second - mean**2).clamp_min(1e-10) * total / (total - 1).clamp_min(1e-6)
    return torch.cat([mean, var.sqrt()], dim=1)


def fbank(waveforms: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """(batch, samples) in -1..1 -> mean-normalised 80-d Kaldi filterbanks (batch, frames, 80)."""
    kaldi = import_torchaudio().compliance.kaldi
    feats = torch.stack(
        [
            kaldi.fbank(wave.unsqueeze(0), num_mel_bins=FEATURE_DIM, sample_frequency=sample_rate)
            for wave in waveforms
        ]
    )
    return feats - feats.mean(dim=1, keepdim=True)


def load_campplus(weights: Path) -> CamPlusPlus:
    network = CamPlusPlus()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return network.eval()


def _pyannote_model():
    return import_pyannote().Model


class CamPlusPlusEmbedding(_pyannote_model()):
    """CAM++ as a pyannote.audio embedding model: (batch, 1, samples) -> (batch, 192)."""

    def __init__(self, sample_rate: int = 16000, num_channels: int = 1, task=None):
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        self.network = CamPlusPlus()

    @classmethod
    def from_weights(cls, weights: Path) -> CamPlusPlusEmbedding:
        model = cls()
        model.network = load_campplus(weights)
        return model.eval()

    @property
    def dimension(self) -> int:
        return EMBEDDING_DIM

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None):
        features = fbank(waveforms[:, 0], self.hparams.sample_rate)
        return self.network.embed(features, weights)


FRAME_S = 0.02  # CAM++ frame maps: 10 ms filterbank hop, then a stride-2 TDNN
BLOCK_S = 60.0
MARGIN_S = 4.0  # beyond the receptive field of the dense blocks
MIN_CLEAN_S = 0.5


def frame_maps(model: CamPlusPlusEmbedding, waveform: torch.Tensor) -> torch.Tensor:
    """Frame-level CAM++ maps (channels, frames at 50 Hz) of a whole mono recording, computed
    in overlapping blocks so that hours of audio take bounded memory."""
    rate = model.hparams.sample_rate
    block, margin = int(BLOCK_S * rate), int(MARGIN_S * rate)
    hop = int(FRAME_S * rate)
    pieces = []
    for start in range(0, max(len(waveform), 1), block):
        lo = max(start - margin, 0)
        piece = waveform[lo : start + block + margin]
        if len(piece) < int(0.025 * rate):
            break
        maps = model.network.frames(fbank(piece[None], rate))[0]
        skip = (start - lo) // hop
        keep = min(block, len(waveform) - start) // hop
        pieces.append(maps[:, skip : skip + keep])
    return torch.cat(pieces, dim=1) if pieces else torch.zeros(EMBEDDING_DIM, 0)


def _diarization_class():
    from pyannote.audio.pipelines import SpeakerDiarization

    return SpeakerDiarization


class WholeFileDiarization(_diarization_class()):
    """pyannote's SpeakerDiarization with one CAM++ pass over the whole recording.

    pyannote embeds every (10 s chunk, local speaker) pair from scratch: about 30 network
    passes per minute of audio. Here the frame-level maps are computed once and each pair is
    a masked statistics pooling of them, which gives the same kind of embedding for a small
    fraction of the compute. Audio must be passed in memory.
    """

    whole_file = True  # False: pyannote's own per-window embeddings (for comparison)
    reassign_margin: float | None = None  # None: keep the clustering's labels as they are

    def apply(self, file, **kwargs):
        if self.whole_file:
            file["campplus_maps"] = self.whole_file_maps(file)
        output = super().apply(file, **kwargs)
        maps = file.pop("campplus_maps", None)
        if maps is None or self.reassign_margin is None:
            return output
        return reassigned_output(output, self._embedding.model_, maps, self.reassign_margin)

    def get_embeddings(self, file, binary_segmentations, exclude_overlap=False, hook=None):
        if not self.whole_file:
            return super().get_embeddings(file, binary_segmentations, exclude_overlap, hook)
        model: CamPlusPlusEmbedding = self._embedding.model_
        maps = file.get("campplus_maps")
        if maps is None:
            maps = self.whole_file_maps(file)
        with torch.inference_mode():
            embeddings = _pool_chunks(model, maps, binary_segmentations, exclude_overlap)
        if hook is not None:
            hook("embeddings", None, total=1, completed=1)
        return embeddings

    def whole_file_maps(self, file) -> torch.Tensor:
        waveform = file["waveform"].mean(dim=0).to(self._embedding.device)
        with torch.inference_mode():
            return frame_maps(self._embedding.model_, waveform)


MIN_TURN_S = 0.4  # a turn needs this much speech of its own to be embedded on its own


def reassigned_output(output, model: CamPlusPlusEmbedding, maps: torch.Tensor, margin: float):
    """The pipeline's output with each turn moved to the speaker its own voice clearly matches
    (asr.reassign); overlapping speech is left out of a turn's embedding."""
    from callscope.asr.reassign import reassign_turns
    from pyannote.core import Annotation

    annotation = output if isinstance(output, Annotation) else output.speaker_diarization
    tracks = list(annotation.itertracks(yield_label=True))
    with torch.inference_mode():
        evidence = _turn_evidence(model, maps, tracks)
    labels = reassign_turns(evidence, margin)
    if labels == [label for _, _, label in tracks]:
        return output
    relabelled = Annotation(uri=annotation.uri)
    for (segment, track, _), label in zip(tracks, labels, strict=True):
        relabelled[segment, track] = label
    relabelled = relabelled.support()
    if isinstance(output, Annotation):
        return relabelled
    return _output_with(output, relabelled, tracks, labels)


def _turn_evidence(model, maps: torch.Tensor, tracks) -> list:
    import numpy as np
    from callscope.asr.reassign import TurnEvidence

    frames = maps.shape[1]
    active: dict[str, np.ndarray] = {}
    for segment, _, label in tracks:
        mask = active.setdefault(label, np.zeros(frames, dtype=bool))
        mask[_frame(segment.start, frames) : _frame(segment.end, frames)] = True
    evidence = []
    for segment, _, label in tracks:
        first, last = _frame(segment.start, frames), _frame(segment.end, frames)
        others = np.zeros(last - first, dtype=bool)
        for other, mask in active.items():
            if other != label:
                others |= mask[first:last]
        own = ~others
        own_s = float(own.sum()) * FRAME_S
        vector = None
        if own_s >= MIN_TURN_S:
            weights = torch.from_numpy(own[None].astype(np.float32)).to(maps.device)
            stats = masked_stats(maps[:, first:last], weights)
            embedding = model.network.xvector.dense(stats)[0].cpu().numpy()
            vector = embedding / np.linalg.norm(embedding)
        evidence.append(TurnEvidence(label, own_s, vector))
    return evidence


def _frame(seconds: float, frames: int) -> int:
    return min(max(int(round(seconds / FRAME_S)), 0), frames)


def _output_with(output, relabelled, tracks, labels):
    """DiarizeOutput with the new turns: exclusive turns follow the turn they lie in, speaker
    embeddings keep their rows for the labels that remain."""
    import dataclasses

    import numpy as np
    from pyannote.core import Annotation

    exclusive = Annotation(uri=relabelled.uri)
    for segment, track, old in output.exclusive_speaker_diarization.itertracks(yield_label=True):
        overlaps = [
            ((segment & seg).duration, new)
            for (seg, _, label), new in zip(tracks, labels, strict=True)
            if label == old and seg.intersects(segment)
        ]
        exclusive[segment, track] = max(overlaps)[1] if overlaps else old
    embeddings = output.speaker_embeddings
    if embeddings is not None:
        old_labels = output.speaker_diarization.labels()
        embeddings = np.stack(
            [embeddings[old_labels.index(label)] for label in relabelled.labels()]
        )
    return dataclasses.replace(
        output,
        speaker_diarization=relabelled,
        exclusive_speaker_diarization=exclusive.support(),
        speaker_embeddings=embeddings,
    )


def _pool_chunks(model, maps: torch.Tensor, segmentations, exclude_overlap: bool):
    import numpy as np

    window = segmentations.sliding_window
    data = np.nan_to_num(segmentations.data, nan=0.0).astype(np.float32)
    num_chunks, num_frames, num_speakers = data.shape
    seg_step = window.duration / num_frames
    per_chunk = int(round(window.duration / FRAME_S))
    out = np.full((num_chunks, num_speakers, EMBEDDING_DIM), np.nan, dtype=np.float32)
    min_clean = MIN_CLEAN_S / seg_step
    for c in range(num_chunks):
        first = int(round(window[c].start / FRAME_S))
        frames = maps[:, max(first, 0) : first + per_chunk]
        if frames.shape[1] < 2:
            continue
        masks = data[c]
        if exclude_overlap:
            clean = masks * (masks.sum(axis=1, keepdims=True) < 2)
            use_clean = clean.sum(axis=0) > min_clean
            masks = np.where(use_clean[None, :], clean, masks)
        times = (np.arange(frames.shape[1]) + 0.5) * FRAME_S + max(first, 0) * FRAME_S
        index = np.clip(((times - window[c].start) / seg_step).astype(int), 0, num_frames - 1)
        weights = torch.from_numpy(masks[index].T.copy()).to(frames.device)
        active = weights.sum(dim=1) >= 2
        if not active.any():
            continue
        stats = masked_stats(frames, weights[active])
        out[c, active.cpu().numpy()] = model.network.xvector.dense(stats).cpu().numpy()
    return out
