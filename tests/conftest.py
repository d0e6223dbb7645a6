from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="callscope-prefect-")
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_HOME": _PREFECT_HOME,
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(key, value)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
from callscope.core.config import load_config  # noqa: E402
from callscope.synth.demoday import CLIPS, DemoError, package_file  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
ZH_REFERENCE = "甚至出现交易几乎停滞的情况"


@pytest.fixture(autouse=True)
def _entry_point_logging_undone():
    """A CLI test sets up the entry point's log handler, which stops `callscope.` records
    from reaching pytest's capture; undo it after each test so that caplog sees them."""
    yield
    logger = logging.getLogger("callscope")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


@pytest.fixture
def settings(tmp_path):
    return load_config(None, warehouse=tmp_path / "warehouse", recordings=tmp_path / "recordings")


@pytest.fixture(scope="session")
def zh_clip() -> Path:
    """4.2 s of real Mandarin (AISHELL) shipped inside the fasr package."""
    try:
        return package_file("fasr", "asset", "example", "asr_example.wav")
    except DemoError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def stereo_call() -> Path:
    return CLIPS / "en_stereo_call.flac"


@pytest.fixture
def mono_en() -> Path:
    return DATA / "en_mono.wav"


def write_tone(path: Path, seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, np.stack([tone] * channels, axis=1), rate)
    return path


def make_day(root: Path, day: str, files: dict[str, Path | bytes], manifest: str | None = None):
    folder = root / day
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, folder / name)
        else:
            (folder / name).write_bytes(content)
    if manifest is not None:
        (folder / "manifest.csv").write_text(manifest, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def web_warehouse(tmp_path_factory):
    """Nine days of calls with categories, emotion, incidents, the index, real recordings and
    one user of each role (tests/web_support.py); shared by the web app's tests."""
    from tests.web_support import add_users, build

    built = build(tmp_path_factory.mktemp("web"))
    add_users(built.settings)
    return built


@pytest.fixture(scope="module")
def web_app(web_warehouse):
    """The real web app over the shared warehouse, one per test module."""
    from tests.web_support import make_app

    return make_app(web_warehouse)


@pytest.fixture(scope="module")
def supervisor(web_app):
    from tests.web_support import sign_in

    return sign_in(web_app, "supervisor")


@pytest.fixture(scope="module")
def analyst(web_app):
    from tests.web_support import sign_in

    return sign_in(web_app, "analyst")


@pytest.fixture(scope="module")
def marketing(web_app):
    from tests.web_support import sign_in

    return sign_in(web_app, "marketing")
