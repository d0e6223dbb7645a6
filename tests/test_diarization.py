"""Diarization and roles on real audio with the offline models (segmentation-3.0 + CAM++)."""

import numpy as np
import pytest
import soundfile as sf
from callscope.asr.audio import decode
from callscope.asr.call import attribute_speakers, transcribe_call
from callscope.asr.diarize import DiarizationError, diarize, get_diarizer, load_pipeline
from callscope.asr.models import get_batched, get_model
from callscope.asr.scoring import read_rttm, to_annotation
from callscope.core.config import load_config
from callscope.core.records import DecodedAudio
from callscope.synth.demoday import hold_music, package_file


@pytest.fixture(scope="module")
def settings():
    return load_config(None)


@pytest.fixture(scope="module")
def pipeline(settings):
    return get_diarizer(settings.diarization)


def test_two_speaker_telephone_sample_within_der_bound(settings, pipeline):
    from pyannote.metrics.diarization import DiarizationErrorRate

    wav = package_file("pyannote.audio", "sample", "sample.wav")
    samples, rate = sf.read(wav, dtype="float32")
    assert rate == 16000
    result = diarize(pipeline, samples, settings.diarization)
    error = DiarizationErrorRate(collar=0.0, skip_overlap=False)(
        read_rttm(wav.with_suffix(".rttm")), to_annotation(result)
    )
    assert result.speakers == ["S0", "S1"]
    assert error < 0.12
    # one embedding per speaker, and the two voices are far apart
    a, b = (result.embeddings[s] for s in result.speakers)
    assert a.shape == (192,) and np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) < 0.8


@pytest.mark.gpu
def test_pipeline_on_cuda_diarizes_as_on_cpu(settings, pipeline):
    """segmentation-3.0 and CAM++ on CUDA: the same speakers and nearly the same turns."""
    import torch
    from pyannote.metrics.diarization import DiarizationErrorRate

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    cuda_settings = settings.diarization.model_copy(update={"device": "cuda"})
    on_cuda = get_diarizer(cuda_settings)
    assert next(on_cuda._segmentation.model.parameters()).is_cuda
    wav = package_file("pyannote.audio", "sample", "sample.wav")
    samples, _ = sf.read(wav, dtype="float32")
    cpu = diarize(pipeline, samples, settings.diarization)
    gpu = diarize(on_cuda, samples, cuda_settings)
    assert gpu.speakers == cpu.speakers
    apart = DiarizationErrorRate(collar=0.0, skip_overlap=False)(
        to_annotation(cpu), to_annotation(gpu)
    )
    assert apart < 0.02
    reference_error = DiarizationErrorRate(collar=0.0, skip_overlap=False)(
        read_rttm(wav.with_suffix(".rttm")), to_annotation(gpu)
    )
    assert reference_error < 0.12


def analyse(settings, audio: DecodedAudio, layout: str = "mono", direction=None):
    transcript = transcribe_call(
        get_model(settings), audio, layout, settings.asr, get_batched(settings)
    )
    speakers = attribute_speakers(
        transcript, audio, settings, lambda: get_diarizer(settings.diarization), direction
    )
    return transcript, speakers


def downmix(audio: DecodedAudio) -> DecodedAudio:
    return DecodedAudio(audio.mono()[None, :], audio.source_rate, 1, audio.codec)


def text_of(transcript, role: str) -> str:
    return " ".join(s["text"] for s in transcript.segments if s["speaker"] == role).lower()


def test_mono_call_gets_agent_and_customer(settings, stereo_call):
    audio = downmix(decode(stereo_call.read_bytes(), stereo_call.name))
    transcript, speakers = analyse(settings, audio)
    assert speakers.n_speakers == 2 and speakers.method == settings.diarization.pipeline
    assert "how can i help" in text_of(transcript, "agent")
    assert "pre-order" in text_of(transcript, "customer")
    assert speakers.role_confidence > 0.9
    metrics = speakers.metrics
    assert metrics["talk_time_agent_s"] > 4 and metrics["talk_time_customer_s"] > 4
    assert metrics["time_to_first_agent_s"] < 1.5  # the agent opens the call at 0.6 s
    assert metrics["speech_rate_agent"] > 60  # words per minute of espeak at 150 wpm
    assert [s["idx"] for s in transcript.segments] == list(range(len(transcript.segments)))


def test_stereo_call_keeps_the_channel_layout(settings, stereo_call):
    audio = decode(stereo_call.read_bytes(), stereo_call.name)
    transcript, speakers = analyse(settings, audio, layout="customer_left")
    assert speakers.method == "channels" and speakers.role_confidence == 1.0
    # the agent speaks on the left channel, but the layout says customer_left
    assert "how can i help" in text_of(transcript, "customer")
    assert {s["speaker_label"] for s in transcript.segments} == {"ch0", "ch1"}
    assert speakers.metrics["overtalk_s"] == 0.0


def test_one_speaker_only(settings, mono_en):
    transcript, speakers = analyse(settings, decode(mono_en.read_bytes(), mono_en.name))
    assert speakers.n_speakers == 1
    assert {s["speaker"] for s in transcript.segments} == {"customer"}  # "I would like to"
    assert speakers.metrics["talk_time_agent_s"] == 0.0
    assert speakers.metrics["time_to_first_agent_s"] is None


def test_music_only_is_hold_not_a_person(settings):
    audio = DecodedAudio(hold_music(16000, 12.0, 0.0)[None, :], 16000, 1, "pcm")
    transcript, speakers = analyse(settings, audio)
    assert transcript.segments == []
    assert speakers.n_speakers == 0 and speakers.role_confidence is None
    assert sum(b - a for a, b in speakers.hold) > 8.0
    assert speakers.metrics["talk_time_agent_s"] == speakers.metrics["talk_time_customer_s"] == 0
    assert speakers.metrics["silence_ratio"] < 0.3  # music is not silence


def test_silence_only(settings):
    audio = DecodedAudio(np.zeros((1, 10 * 16000), dtype=np.float32), 16000, 1, "pcm")
    transcript, speakers = analyse(settings, audio)
    assert transcript.segments == [] and speakers.n_speakers == 0 and speakers.hold == []
    assert speakers.metrics["silence_ratio"] == 1.0


def test_diarization_can_be_switched_off(settings, mono_en):
    off = settings.model_copy(
        update={"diarization": settings.diarization.model_copy(update={"enabled": False})}
    )
    transcript, speakers = analyse(off, decode(mono_en.read_bytes(), mono_en.name))
    assert speakers.method == "off"
    assert {s["speaker"] for s in transcript.segments} == {"unknown"}


def test_missing_pipeline_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DiarizationError, match="does not exist; fix diarization.pipeline"):
        load_pipeline(str(tmp_path / "no-such-pipeline"))


def test_cli_enrolls_an_agent_voiceprint(tmp_path, stereo_call):
    from typer.testing import CliRunner

    from callscope.cli import app

    config = tmp_path / "c.yaml"
    config.write_text(f"roles:\n  agent_voiceprints: {tmp_path / 'voices'}\n")
    runner = CliRunner()
    args = ["voiceprint", "enroll", "--agent", "A-7", str(stereo_call), "--channel", "0"]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    voiceprint = np.load(tmp_path / "voices" / "A-7.npy")
    assert voiceprint.shape == (192,) and np.isfinite(voiceprint).all()
    unset = runner.invoke(app, args)
    assert unset.exit_code == 2 and "roles.agent_voiceprints" in unset.output
    no_channel = runner.invoke(app, [*args[:-1], "5", "--config", str(config)])
    assert no_channel.exit_code == 2 and "has no channel 5" in no_channel.output
    missing = runner.invoke(
        app,
        [
            "voiceprint",
            "enroll",
            "--agent",
            "A-7",
            str(tmp_path / "nope.wav"),
            "--config",
            str(config),
        ],
    )
    assert missing.exit_code == 2 and "nope.wav: cannot read it" in missing.output
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    result = runner.invoke(
        app, ["voiceprint", "enroll", "--agent", "A-7", str(empty), "--config", str(config)]
    )
    assert result.exit_code == 2 and "empty.wav: empty file" in result.output
