"""Import torchaudio where its compiled extension cannot load.

pyannote.audio imports torchaudio, but uses only its pure-Python parts (Kaldi-compatible
features, resampling). PyPI's torchaudio wheels are built against CUDA torch and fail to load
their native library beside the CPU build of torch. Then torchaudio is imported with its
extension marked unavailable, exactly as torchaudio itself does when no extension is built.
"""

from __future__ import annotations

import sys
import types

from callscope.core.logs import get_logger

logger = get_logger(__name__)


def import_torchaudio():
    """torchaudio, with its native extension when it loads and without it otherwise."""
    try:
        import torchaudio
    except OSError as exc:
        logger.debug("torchaudio's native extension does not load (%s); using pure Python", exc)
        for name in [name for name in sys.modules if name.split(".")[0] == "torchaudio"]:
            del sys.modules[name]
        sys.modules["torchaudio._extension"] = _extension_unavailable()
        import torchaudio
    return torchaudio


def _extension_unavailable() -> types.ModuleType:
    module = types.ModuleType("torchaudio._extension")
    module._IS_TORCHAUDIO_EXT_AVAILABLE = False
    module._IS_ALIGN_AVAILABLE = False
    module._load_lib = lambda lib: False

    def fail_if_no_align(func):
        def unavailable(*args, **kwargs):
            raise RuntimeError("torchaudio's alignment extension is not available")

        return unavailable

    module.fail_if_no_align = fail_if_no_align
    return module


def import_pyannote():
    """pyannote.audio, quietly: no telemetry, no warning about a file decoder we never use
    (audio reaches pyannote in memory)."""
    import os
    import warnings

    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    import_torchaudio()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="(?s).*torchcodec")
        import pyannote.audio
    return pyannote.audio
