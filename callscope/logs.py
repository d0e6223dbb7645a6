"""Logging and environment set-up for entry points (the core only uses module loggers).

Every line a command logs, its own and Prefect's run loggers' alike, starts with an ISO
date-time with the zone offset and a level (`text`, for people), or is one JSON object (`json`,
for log shippers): `callscope --log-format json`, else the config key `logging.format`
($CALLSCOPE_LOGGING__FORMAT) once a command has loaded its config.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys

from callscope.core.errors import CallscopeError
from callscope.core.logs import ROOT

FORMATS = ("text", "json")
FORMAT_ENV = "CALLSCOPE_LOGGING__FORMAT"  # the config key logging.format, from the environment
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# how Prefect names the exception of a failed run in its closing line
_FAILED_RUN = re.compile(r"encountered an exception: (\w+):")
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
# Prefect's console handlers format with LineFormatter: keys of Prefect's logging.yml, which
# it reads from the environment when it is imported, here and in every process started from
# here (workers, servers). The formatter slot named `json` is the one whose class can be set.
PREFECT_ENV = {
    "PREFECT_LOGGING_FORMATTERS_JSON_CLASS": "callscope.logs.LineFormatter",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER": "json",
    "PREFECT_LOGGING_HANDLERS_DEBUG_FORMATTER": "json",
}
# record attributes a JSON line carries where a record has them, under these keys
_FIELDS = {
    "call_id": "call_id",
    "date": "date",
    "flow_run_name": "flow_run",
    "task_run_name": "task_run",
    # the console's access log (web/access.py)
    "method": "method",
    "path": "path",
    "status": "status",
    "duration_ms": "duration_ms",
    "user": "user",
}


class _Format:
    """The process's log format: the option's when given, else the config's, else text."""

    current = "text"
    from_option = False


def setup(verbose: bool = False, log_format: str | None = None) -> None:
    """The entry point's handler on the `callscope` logger and the format of every line;
    `log_format` (the --log-format option) wins over the config key applied later."""
    for key, value in {**QUIET_ENV, **PREFECT_ENV}.items():
        os.environ.setdefault(key, value)
    _Format.from_option = log_format is not None
    _Format.current = log_format or _env_format()
    handler = _StderrHandler()
    handler.setFormatter(LineFormatter())
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
    _adopt_prefect_handlers()


def use_config_format(log_format: str) -> None:
    """The config's `logging.format`, unless --log-format chose one."""
    if not _Format.from_option and log_format in FORMATS:
        _Format.current = log_format


def current_format() -> str:
    return _Format.current


def _env_format() -> str:
    value = os.environ.get(FORMAT_ENV, "").strip().lower()
    return value if value in FORMATS else "text"


class LineFormatter(logging.Formatter):
    """One log line in the process's format: `2026-11-21T01:00:04.512+08:00 INFO    name: ...`
    (each line of a message or traceback of several lines gets that head), or one JSON object.
    Prefect builds it from its logging config as (fmt, datefmt, style), which it ignores."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, *args, **kwargs):
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        if _Format.current == "json":
            return self._json(record)
        return self._text(record)

    def _text(self, record: logging.LogRecord) -> str:
        head = f"{timestamp(record)} {record.levelname:<7} {_source(record)}:"
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return "\n".join(f"{head} {line}" for line in text.splitlines() or [""])

    def _json(self, record: logging.LogRecord) -> str:
        entry = {
            "time": timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attribute, key in _FIELDS.items():
            value = getattr(record, attribute, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def timestamp(record: logging.LogRecord) -> str:
    """When the record was made, ISO 8601 in this machine's zone: 2026-11-21T01:00:04.512+08:00."""
    moment = dt.datetime.fromtimestamp(record.created).astimezone()
    return moment.isoformat(timespec="milliseconds")


def _source(record: logging.LogRecord) -> str:
    if task_run := getattr(record, "task_run_name", None):
        return f"task run {task_run}"
    if flow_run := getattr(record, "flow_run_name", None):
        return f"flow run {flow_run}"
    return record.name


def _adopt_prefect_handlers() -> None:
    """Prefect's console handlers set up before this process's environment named the
    formatter (Prefect imported first) get it now."""
    if "prefect.logging.handlers" not in sys.modules:
        return
    manager = logging.Logger.manager
    loggers = [logging.root] + [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            ours = isinstance(handler.formatter, LineFormatter)
            if isinstance(handler, logging.StreamHandler) and not ours:
                if type(handler).__module__.startswith("prefect."):
                    handler.setFormatter(LineFormatter())


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


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
