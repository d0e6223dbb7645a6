"""Turn re-assignment: the pure rule, then on real audio with the offline CAM++ model."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch
from callscope.asr.reassign import TurnEvidence, reassign_turns


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


A, B = unit(1, 0, 0), unit(0, 1, 0)


def test_a_short_turn_clearly_of_the_other_voice_moves():
    turns = [
        TurnEvidence("S0", 5.0, A),
        TurnEvidence("S1", 4.0, B),
        TurnEvidence("S0", 0.9, unit(0.1, 1, 0)),  # labelled S0, sounds like S1
    ]
    assert reassign_turns(turns, margin=0.08) == ["S0", "S1", "S1"]


def test_a_turn_within_the_margin_keeps_its_label():
    turns = [
        TurnEvidence("S0", 5.0, A),
        TurnEvidence("S1", 4.0, B),
        TurnEvidence("S0", 0.9, unit(1, 1.1, 0)),  # a little closer to S1, not clearly
    ]
    assert reassign_turns(turns, margin=0.08) == ["S0", "S1", "S0"]
    assert reassign_turns(turns, margin=0.0) == ["S0", "S1", "S1"]


def test_turns_without_evidence_and_speakers_without_long_turns_stay():
    turns = [
        TurnEvidence("S0", 5.0, A),
        TurnEvidence("S1", 4.0, B),
        TurnEvidence("S0", 0.2, None),  # too short to embed
        TurnEvidence("S2", 0.8, B),  # an IVR blip with no long turn: no centroid, kept
    ]
    assert reassign_turns(turns, margin=0.08) == ["S0", "S1", "S0", "S2"]


def test_one_speaker_is_left_alone():
    turns = [TurnEvidence("S0", 5.0, A), TurnEvidence("S0", 1.0, B)]
    assert reassign_turns(turns, margin=0.08) == ["S0", "S0"]


def test_centroids_weigh_turns_by_their_length():
    turns = [
        TurnEvidence("S0", 10.0, A),
        TurnEvidence("S0", 1.5, B),  # one wrong anchor does not drag the centroid over
        TurnEvidence("S1", 4.0, unit(0, 0, 1)),
        TurnEvidence("S0", 1.0, unit(0, 1, 0.5)),  # an unweighted S0 centroid would keep it
    ]
    assert reassign_turns(turns, margin=0.08)[3] == "S1"


@pytest.fixture(scope="module")
def sample_output():
    from callscope.asr.diarize import get_diarizer
    from callscope.core.config import load_config
    from callscope.synth.demoday import package_file

    pipeline = get_diarizer(load_config(None).diarization)
    samples, _ = sf.read(package_file("pyannote.audio", "sample", "sample.wav"), dtype="float32")
    file = {"waveform": torch.from_numpy(samples)[None], "sample_rate": 16000}
    margin, pipeline.reassign_margin = pipeline.reassign_margin, None
    try:
        output = pipeline(file)
    finally:
        pipeline.reassign_margin = margin
    return pipeline, output, pipeline.whole_file_maps(file)


def with_label(output, index: int, label: str):
    from pyannote.core import Annotation

    annotation = Annotation(uri=output.speaker_diarization.uri)
    tracks = output.speaker_diarization.itertracks(yield_label=True)
    for i, (segment, track, old) in enumerate(tracks):
        annotation[segment, track] = label if i == index else old
    return dataclasses.replace(output, speaker_diarization=annotation)


def test_a_mislabelled_turn_of_a_real_call_goes_back_to_its_speaker(sample_output):
    from callscope.asr.campplus import reassigned_output

    pipeline, output, maps = sample_output
    model = pipeline._embedding.model_
    annotation = output.speaker_diarization
    assert reassigned_output(output, model, maps, 0.08) is output  # a right diarization stays
    tracks = list(annotation.itertracks(yield_label=True))
    medium = [i for i, (seg, _, _) in enumerate(tracks) if 0.8 <= seg.duration <= 2.5]
    assert len(medium) >= 3
    for index in medium:
        segment, _, label = tracks[index]
        other = next(x for x in annotation.labels() if x != label)
        fixed = reassigned_output(with_label(output, index, other), model, maps, 0.08)
        assert fixed.speaker_diarization.crop(segment).argmax() == label
        assert fixed.speaker_diarization.labels() == annotation.labels()
        assert fixed.speaker_embeddings.shape == output.speaker_embeddings.shape
        exclusive = fixed.exclusive_speaker_diarization
        assert exclusive.crop(segment).argmax() == label
