"""Seeded multi-day demo call generator with known ground truth.

`synth.scripts` plans days of call-centre calls (topics, planted spikes, personal data) as
text; `synth.tts` speaks them with an offline Mandarin text-to-speech engine (ttskit, in its
own worker process, installed by `make tts`); `synth.mix` turns spoken turns into 8 kHz
telephone recordings; `synth.generate` writes `<out>/<YYYY-MM-DD>/` day folders with the
recordings, `manifest.csv` and `truth.json`.

The ttskit voices' training data is not documented by their publisher: the generated audio is
for demos and tests only, not for anything sold or published.
"""
