"""The seeded demo call generator: plans, scripts, mixing, day folders, CLI and real TTS."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from callscope.keywords.categorize import categorize_call
from callscope.keywords.rules import load_rules
from callscope.privacy.redact import find_pii
from callscope.storage.recordings import MANIFEST_COLUMNS, LocalRecordingSource
from callscope.synth import generate as gen
from callscope.synth import tts
from callscope.synth.mix import RATE, encode, mix_call
from callscope.synth.scripts import TOPICS, VOICES, plan_days
from typer.testing import CliRunner

from callscope.cli_demo import register

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 11, 13)
LAUNCH = dt.date(2026, 11, 20)
TUESDAY = dt.date(2026, 11, 17)


def conversation(call) -> list:
    return [t for t in call.turns if t.role != "ivr"]


def test_the_plan_is_deterministic_for_a_seed():
    def fingerprint(seed):
        plans = plan_days(START, 8, seed, 6, 10)
        return [
            (c.call_id, c.topic, c.started_at, c.agent_id, c.channel_layout, tuple(c.turns), c.pii)
            for plan in plans
            for c in plan.calls
        ]

    assert fingerprint(7) == fingerprint(7)
    assert fingerprint(7) != fingerprint(8)


def test_the_launch_day_plants_the_preorder_spike():
    plans = plan_days(START, 8, 7, 6, 10)
    assert [plan.date for plan in plans] == [START + dt.timedelta(days=i) for i in range(8)]
    launch = plans[-1]
    assert launch.date == LAUNCH
    assert launch.planted == {
        "preorder_failure": 10,
        "delivery_lookup": 3,
        "hotline_unreachable": 2,
    }
    planted = Counter(c.topic for c in launch.calls if c.is_planted)
    assert planted == Counter(launch.planted)
    assert all(not plan.planted for plan in plans[:-1])
    assert not any(c.is_planted for plan in plans[:-1] for c in plan.calls)
    normal_max = max(plan.topics.get("preorder_failure", 0) for plan in plans[:-1])
    assert launch.topics["preorder_failure"] >= 10 > normal_max
    assert [c.call_id for c in launch.calls] == sorted(c.call_id for c in launch.calls)
    starts = [c.started_at for c in launch.calls]
    assert starts == sorted(starts) and all(s.date() == LAUNCH for s in starts)
    assert all(c.started_at.hour >= 10 for c in launch.calls if c.is_planted)


def test_other_spikes_can_be_planted_and_bad_ones_are_refused():
    spike_day = START + dt.timedelta(days=2)
    plans = plan_days(START, 4, 3, 50, 0, spikes={spike_day: {"roaming": 40}})
    assert [plan.planted for plan in plans] == [{}, {}, {"roaming": 40}, {}]
    assert sum(c.is_planted for c in plans[2].calls) == 40
    unplanted = plan_days(START, 4, 3, 50, 0)
    quiet = [(c.topic, c.turns) for c in unplanted[2].calls]
    assert [(c.topic, c.turns) for c in plans[2].calls if not c.is_planted] == quiet
    with pytest.raises(ValueError, match="unknown topics"):
        plan_days(START, 2, 3, 5, 0, spikes={START: {"weather": 3}})
    with pytest.raises(ValueError, match="outside the planned days"):
        plan_days(START, 2, 3, 5, 0, spikes={LAUNCH: {"roaming": 3}})
    with pytest.raises(ValueError, match="days must be at least 1"):
        plan_days(START, 0, 3, 5, 0)


def test_the_topic_mix_languages_and_turns_are_plausible():
    calls = plan_days(TUESDAY, 1, 11, 20_000, 0)[0].calls
    assert 19_000 < len(calls) < 21_000
    shares = Counter(c.topic for c in calls)
    total_weight = sum(t.weight * t.weekday[TUESDAY.weekday()] for t in TOPICS.values())
    for name, topic in TOPICS.items():
        expected = topic.weight * topic.weekday[TUESDAY.weekday()] / total_weight
        assert shares[name] / len(calls) == pytest.approx(expected, rel=0.15), name
    assert 0.08 < sum(c.language == "en" for c in calls) / len(calls) < 0.12
    assert {c.queue for c in calls} == {t.queue for t in TOPICS.values()}
    assert all(4 <= len(conversation(c)) <= 8 for c in calls)
    assert all(conversation(c)[0].role == "agent" for c in calls)
    assert {c.customer_voice for c in calls} == set(VOICES)
    assert all(c.agent_voice != c.customer_voice for c in calls)
    assert 0.25 < sum(c.channel_layout == "mono" for c in calls) / len(calls) < 0.35
    assert {c.file_format for c in calls} == {"wav_pcm16", "wav_ulaw", "flac"}
    zh_text = "".join(t.text for c in calls if c.language == "zh" for t in c.turns)
    assert not any(ch.isascii() and ch.isalnum() for ch in zh_text)  # all speakable by ttskit
    statements = [conversation(c)[1].text for c in calls if c.language == "zh"]
    assert len(set(statements)) > 0.55 * len(statements)


def test_customer_wording_triggers_the_matching_rule_category():
    rules = load_rules(REPO / "configs" / "categories.yaml")
    calls = plan_days(TUESDAY, 1, 5, 4_000, 0)[0].calls
    hits, totals = Counter(), Counter()
    for call in calls:
        if call.category:
            totals[call.topic] += 1
            found = categorize_call(call.segments(asr_style=True), rules).categories
            hits[call.topic] += call.category in found
    for topic, total in totals.items():
        assert hits[topic] / total >= 0.75, (topic, hits[topic], total)


def test_personal_data_is_planted_and_recorded():
    calls = [c for plan in plan_days(START, 8, 7, 60, 10) for c in plan.calls]
    with_pii = [c for c in calls if c.pii]
    assert 0.3 < len(with_pii) / len(calls) < 0.6
    kinds = Counter(item["kind"] for c in with_pii for item in c.pii_items)
    assert kinds["phone"] == len(with_pii) and kinds["id_number"] and kinds["address"]
    found = 0
    for call in with_pii:
        said = [t.text for t in call.turns if t.role == "customer"]
        assert all(any(p in text for text in said) for p in call.pii)
        for item in call.pii_items:
            if item["kind"] == "phone":
                assert len(item["value"]) == 11 and item["value"][0] == "1"
            if item["kind"] == "id_number":
                body, check = item["value"][:17], item["value"][17]
                weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
                assert (
                    "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
                    == check
                )
        said_phone = next(text for text in said if call.pii[0] in text)
        found += any(span.kind == "phone" for span in find_pii(said_phone))
    assert found / len(with_pii) > 0.9


def test_fifty_thousand_text_only_calls():
    calls = plan_days(TUESDAY, 1, 7, 50_000, 0)[0].calls
    segments = [call.segments(asr_style=True) for call in calls]
    assert 47_000 < len(calls) < 53_000
    assert len({c.call_id for c in calls}) == len(calls)
    assert all(5 <= len(s) <= 9 for s in segments)


def test_segments_look_like_transcribed_turns():
    calls = plan_days(START, 2, 7, 200, 0, english_share=0.0)[1].calls
    call = next(c for c in calls if c.pii and c.turns[0].role == "ivr" and c.hold_s)
    segments = call.segments()
    assert [s["idx"] for s in segments] == list(range(len(call.turns)))
    assert all(set(s) == {"idx", "speaker", "start_s", "end_s", "text"} for s in segments)
    assert [s["speaker"] for s in segments] == [t.role for t in call.turns]
    assert all(s["end_s"] > s["start_s"] for s in segments)
    assert all(b["start_s"] > a["end_s"] for a, b in zip(segments, segments[1:], strict=False))
    assert segments[1]["start_s"] - segments[0]["end_s"] >= call.hold_s + 0.3
    han = len([ch for ch in segments[1]["text"] if "\u4e00" <= ch <= "\u9fff"])
    assert (segments[1]["end_s"] - segments[1]["start_s"]) == pytest.approx(han / 4.5, abs=0.6)
    written = " ".join(s["text"] for s in call.segments(asr_style=True)).replace(",", "")
    assert call.pii_items[0]["value"] in written


class FakeSynthesizer:
    """Tones instead of speech: one pitch per voice, length from the text."""

    calls = 0

    def __init__(self, cache_dir, rate=RATE, workers=1, threads=1):
        self.hits = self.misses = 0
        self.audio_s = self.synth_s = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def synthesize_many(self, requests):
        FakeSynthesizer.calls += 1
        return [tone(len(r.text) * 0.05 + 0.5, 220 if r.voice == "Aida" else 440) for r in requests]


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture
def fake_tts(monkeypatch):
    monkeypatch.setattr(tts, "Synthesizer", FakeSynthesizer)
    monkeypatch.setattr(tts, "require_ttskit", lambda: None)
    monkeypatch.setattr(tts, "espeak_available", lambda: True)


def test_mixing_lays_out_stereo_and_mono_calls():
    calls = plan_days(START, 1, 7, 60, 0)[0].calls
    stereo = next(c for c in calls if c.channel_layout == "agent_left" and c.hold_s > 0)
    mono = next(c for c in calls if c.channel_layout == "mono")
    for call in (stereo, mono):
        speech = [tone(1.0 + 0.1 * i, 300 + 50 * i) for i in range(len(call.turns))]
        mixed = mix_call(call, speech)
        assert mixed.rate == RATE == 8000
        assert mixed.samples.ndim == (2 if call is stereo else 1)
        starts = [start for start, _ in mixed.turn_times]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        assert all(end > start for start, end in mixed.turn_times)
        assert mixed.duration_s > mixed.turn_times[-1][1]
        assert np.max(np.abs(mixed.samples)) <= 1.0
    left, right = mixed_channels(stereo)
    for turn, (start, end) in zip(
        stereo.turns, mix_call(stereo, fake(stereo)).turn_times, strict=True
    ):
        middle = slice(int((start + 0.45) * RATE), int((end - 0.45) * RATE))
        louder, quieter = (left, right) if turn.role != "customer" else (right, left)
        assert rms(louder[middle]) > 10 * rms(quieter[middle])
    ext, data = encode(mix_call(stereo, fake(stereo)), "wav_ulaw")
    info = sf.info(__import__("io").BytesIO(data))
    assert (ext, info.samplerate, info.channels, info.subtype) == (".wav", 8000, 2, "ULAW")


def fake(call) -> list[np.ndarray]:
    return [tone(1.5, 440 if t.role == "customer" else 220) for t in call.turns]


def mixed_channels(call):
    samples = mix_call(call, fake(call)).samples
    return samples[:, 0], samples[:, 1]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def test_generate_writes_day_folders_storage_can_read(tmp_path, fake_tts):
    folders = gen.generate(tmp_path, LAUNCH - dt.timedelta(days=2), 3, 7, 5, 6)
    assert [f.name for f in folders] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    source = LocalRecordingSource(tmp_path, ["wav", "flac"])
    for folder in folders:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        recordings = source.list_day(dt.date.fromisoformat(folder.name))  # truth.json: sidecar
        assert len(recordings) == len(truth["calls"]) and all(r.problem is None for r in recordings)
        header = (folder / "manifest.csv").read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == list(MANIFEST_COLUMNS)
        for rec, call in zip(recordings, truth["calls"], strict=True):
            assert rec.call_id == call["call_id"] and Path(rec.uri).name == call["file"]
            info = sf.info(rec.uri)
            assert info.samplerate == 8000
            assert info.channels == (1 if call["channel_layout"] == "mono" else 2)
            assert rec.meta.channel_layout == call["channel_layout"]
            assert call["times"] == "measured"
            assert info.duration > call["turns"][-1]["end_s"]
    assert truth["planted"] == {
        "preorder_failure": 6,
        "delivery_lookup": 2,
        "hotline_unreachable": 1,
    }
    assert sum(c["is_planted"] for c in truth["calls"]) == 9
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    gen.generate(tmp_path, LAUNCH - dt.timedelta(days=2), 3, 7, 5, 6)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # identical and not even rewritten


def test_text_only_mode_writes_truth_and_manifest_without_audio(tmp_path):
    seen = []
    folders = gen.generate(
        tmp_path, LAUNCH, 1, 7, 30, 8, text_only=True, progress=lambda n, t: seen.append((n, t))
    )
    folder = folders[0]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.csv", "truth.json"]
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    assert truth["text_only"] and truth["planted"]["preorder_failure"] == 8
    assert seen[-1] == (len(truth["calls"]), len(truth["calls"]))
    call = truth["calls"][0]
    assert {"call_id", "topic", "language", "is_planted", "pii", "turns"} <= set(call)
    assert set(call["turns"][0]) == {"role", "text", "start_s", "end_s"}
    assert call["times"] == "estimated" and call["file"] is None
    recordings = LocalRecordingSource(tmp_path, ["wav"]).list_day(LAUNCH)
    assert len(recordings) == len(truth["calls"])  # from the manifest, with no file yet
    assert {r.meta.queue for r in recordings} <= {t.queue for t in TOPICS.values()}


def test_audio_without_ttskit_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(tts, "ttskit_available", lambda: False)
    with pytest.raises(tts.TtsError, match="make tts"):
        gen.generate(tmp_path, LAUNCH, 1, 7, 3, 2)


def cli() -> typer.Typer:
    app = typer.Typer()
    demo = typer.Typer()
    app.add_typer(demo, name="demo")
    register(demo)
    return app


def test_cli_generates_days_and_prints_a_summary(tmp_path):
    result = CliRunner().invoke(
        cli(),
        ["demo", "generate", "--out", str(tmp_path), "--days", "3", "--calls-per-day", "4"]
        + ["--launch-calls", "5", "--text-only", "--seed", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "2026-11-18:" in result.output and "2026-11-20:" in result.output
    assert (
        "planted: preorder_failure +5, delivery_lookup +2, hotline_unreachable +1" in result.output
    )
    assert (tmp_path / "2026-11-20" / "truth.json").is_file()


def test_cli_refuses_bad_options_clearly(tmp_path, monkeypatch):
    base = ["demo", "generate", "--out", str(tmp_path), "--text-only"]
    for args, message in (
        (["--start", "20.11.2026"], "is not a date; use YYYY-MM-DD"),
        (["--days", "0"], "--days must be at least 1"),
        (["--launch-calls", "-1"], "must not be negative"),
        (["--config", str(tmp_path / "missing.yaml")], "not found"),
    ):
        result = CliRunner().invoke(cli(), base + args)
        assert result.exit_code == 2 and message in result.output, result.output
    monkeypatch.setattr(tts, "ttskit_available", lambda: False)
    result = CliRunner().invoke(cli(), ["demo", "generate", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "make tts" in result.output, result.output


@pytest.mark.skipif(not tts.ttskit_available(), reason="ttskit is not installed: run `make tts`")
def test_ttskit_speaks_each_voice(tmp_path):
    text = "您好，请问有什么可以帮您？"
    with tts.Synthesizer(tmp_path, workers=1) as synth:
        clips = synth.synthesize_many(
            [tts.SpeechRequest(text, voice, tts.sentence_seed(voice, text)) for voice in VOICES]
        )
        again = synth.synthesize(text, VOICES[0], tts.sentence_seed(VOICES[0], text))
        assert (synth.misses, synth.hits) == (2, 1)
    for voice, clip in zip(VOICES, clips, strict=True):
        path = synth.cache_path(tts.SpeechRequest(text, voice, tts.sentence_seed(voice, text)))
        assert sf.info(path).samplerate == 8000
        assert 1.5 < len(clip) / 8000 < 6.0
        assert rms(clip) > 0.02
    assert np.array_equal(again, clips[0])
    assert not np.array_equal(clips[0][:8000], clips[1][:8000])
