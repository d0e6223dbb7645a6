"""Logging and environment set-up for entry points (the core only uses module loggers)."""

from __future__ import annotations

import logging
import os
import re
import sys

from callscope.core.errors import CallscopeError
from callscope.core.logs import ROOT

PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# how Prefect names the exception of a failed run in its closing line
_FAILED_RUN = re.compile(r"encountered an exception: (\w+):")
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup(verbose: bool = False) -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    logger = logging.getLogger(ROOT)  # every package logs below it (core/logs.py)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    logging.getLogger("faster_whisper").setLevel(logging.INFO if verbose else logging.WARNING)
    quiet = _ExpectedErrors(verbose)
    for name in PREFECT_RUN_LOGGERS:
        prefect_logger = logging.getLogger(name)
        prefect_logger.filters[:] = [
            f for f in prefect_logger.filters if not isinstance(f, _ExpectedErrors)
        ]
        prefect_logger.addFilter(quiet)


class _ExpectedErrors(logging.Filter):
    """Prefect logs a failed run's traceback before the command prints its one-line `error:`.
    For errors callscope raises on purpose that traceback says nothing more: it is kept for -v."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, CallscopeError):
            return False
        failed = _FAILED_RUN.search(record.getMessage())
        return not (failed and failed.group(1) in _error_names(CallscopeError))


def _error_names(base: type) -> set[str]:
    names = {base.__name__}
    for sub in base.__subclasses__():
        names |= _error_names(sub)
    return names
