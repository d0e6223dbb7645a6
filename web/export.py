"""Exports for spreadsheets: what the JSON API answers, all of it (up to
`web.export_max_rows`), as CSV (UTF-8 with a byte-order mark, so that Excel reads Chinese) or
as Excel (.xlsx, written by openpyxl in write-only mode).

- Kinds: `search` (the search API's parameters), `calls` (a day's calls with their metrics),
  `agent` (one agent's calls over a period; supervisors only), `trends` and `incidents`. Each
  one's rows are the rows of the JSON API for the same parameters, made by the same functions
  (web/services.py), so the role's rules are the API's: marketing gets redacted text and no
  agent id or audio link columns.
- A CSV is written as it is sent; an Excel file is written row by row to a temporary file,
  then sent. An export longer than the limit stops there, says so in a last note row and
  answers with `X-Callscope-Truncated: true`.
- Times of day are in the configured timezone (`timezone`), without an offset.
- Every export is recorded before it is sent (who, when, role, kind, parameters, rows,
  format) in `<warehouse>/web/exports.sqlite`, table `exports`; `recent` reads it back
  (GET /api/exports for supervisors).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from callscope.core.logs import get_logger
from callscope.incidents.report import PUBLIC_FIELDS
from callscope.storage.schemas import TABLES
from callscope.web import params as P
from callscope.web import services
from callscope.web.auth import User
from callscope.web.errors import BadRequest, NotFound, Unavailable
from callscope.web.i18n import queue_name
from callscope.web.services import Context

logger = get_logger(__name__)

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LOG_FILE = "exports.sqlite"
SEARCH_PAGE = 1000  # hits fetched from the index at a time
CSV_BATCH = 500  # rows written before a CSV chunk is sent
FILE_CHUNK = 1 << 16
TIME_COLUMNS = frozenset({"started_at"})  # ISO times in UTC, written in the configured timezone
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
XLSX_TEXT_MAX = 32_767  # characters an Excel cell holds
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a formula
SEARCH_COLUMNS = (
    "call_id", "date", "agent_id", "queue", "speaker", "idx", "start_s", "end_s", "hit_s",
    "text", "before", "after", "categories", "score", "url",
)  # fmt: skip
CALL_COLUMNS = (*services.CALL_LIST_COLUMNS, "url", "audio_url")
INCIDENT_COLUMNS = (*PUBLIC_FIELDS, "examples")


@dataclass
class Sheet:
    """One export: its columns, its rows (made as they are written) and how many there are
    in all; `limit` of them are written."""

    kind: str
    columns: list[str]
    rows: Iterable[dict]
    total: int
    limit: int
    label: str  # what the file name says besides the kind (a day, a period)
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    @property
    def written(self) -> int:
        return min(self.total, self.limit)

    def capped(self) -> Iterator[dict]:
        return islice(self.rows, self.limit)

    def note_rows(self) -> list[str]:
        notes = list(self.notes)
        if self.truncated:
            notes.append(
                f"only the first {self.limit} of {self.total} rows are here (the export limit, "
                "web.export_max_rows): narrow the selection to get the rest"
            )
        return [f"NOTE: {note}" for note in notes]


# what each kind exports ------------------------------------------------------------------
def sheet(kind: str, ctx: Context, user: User, params, language: str = "en") -> Sheet:
    """The export's sheet; a `queue` column is followed by `queue_name`, the queue's name in
    `language` (web.queue_names; the id when it has none)."""
    source = SOURCES.get(kind)
    if source is None:
        raise NotFound(f"no export {kind!r}; exports: {', '.join(SOURCES)}")
    found = source(ctx, user, params, ctx.settings.web.export_max_rows)
    return _queue_named(found, ctx.settings.web.queue_names, language)


def _queue_named(sheet: Sheet, names: dict, language: str) -> Sheet:
    if "queue" not in sheet.columns:
        return sheet
    sheet.columns.insert(sheet.columns.index("queue") + 1, "queue_name")
    rows = sheet.rows
    sheet.rows = (
        row | {"queue_name": queue_name(names, row.get("queue"), language)} for row in rows
    )
    return sheet


def _search(ctx: Context, user: User, params, limit: int) -> Sheet:
    sp = P.search_params(params, ctx.settings.web.page_size)
    services.check_search(user, sp)
    first = services.search_page(ctx, user, sp, min(SEARCH_PAGE, limit), 0)
    total = services.search_total(ctx, user, sp, first)
    rows = _search_hits(ctx, user, sp, first, limit)
    columns = _shown(SEARCH_COLUMNS, user)
    return Sheet("search", columns, rows, total, limit, _today(ctx), first["warnings"])


def _search_hits(
    ctx: Context, user: User, sp: P.SearchParams, first: dict, limit: int
) -> Iterator[dict]:
    """Every hit up to `limit`, a page of the index at a time (the API's pages, longer)."""
    size, offset, page = min(SEARCH_PAGE, limit), 0, first
    while True:
        yield from page["hits"]
        offset += len(page["hits"])
        if len(page["hits"]) < size or offset >= limit:
            return
        page = services.search_page(ctx, user, sp, min(size, limit - offset), offset)


def _calls(ctx: Context, user: User, params, limit: int) -> Sheet:
    day, table = services.calls_of_day(ctx, user, params)
    label = day.isoformat() if day else "none"
    rows = _call_rows(table, user, limit)
    return Sheet("calls", _shown(CALL_COLUMNS, user), rows, table.num_rows, limit, label)


def _agent(ctx: Context, user: User, params, limit: int) -> Sheet:
    agent_id = P.one(params, "agent") or ""
    table, start, end = services.calls_of_agent(ctx, user, agent_id, params)
    label = f"{_safe(agent_id)}-{start.isoformat()}-{end.isoformat()}"
    rows = _call_rows(table, user, limit)
    return Sheet("agent", _shown(CALL_COLUMNS, user), rows, table.num_rows, limit, label)


def _call_rows(table, user: User, limit: int) -> Iterator[dict]:
    for batch in table.slice(0, limit).to_batches(max_chunksize=CSV_BATCH):
        for row in batch.to_pylist():
            yield services.call_row(row, user)


def _trends(ctx: Context, user: User, params, limit: int) -> Sheet:
    data = services.trends(ctx, user, params)
    fallback = [*TABLES["emotion_daily"].names, "url"]
    columns = _shown(_columns(data["rows"], fallback), user)
    label = f"{data['by']}-{data['from']}-{data['to']}"
    return Sheet("trends", columns, data["rows"], len(data["rows"]), limit, label)


def _incidents(ctx: Context, user: User, params, limit: int) -> Sheet:
    data = services.incidents(ctx, user, params)
    columns = _shown(_columns(data["rows"], list(INCIDENT_COLUMNS)), user)
    label = data["date"] or "none"
    return Sheet("incidents", columns, data["rows"], len(data["rows"]), limit, label)


SOURCES: dict[str, Callable[[Context, User, Any, int], Sheet]] = {
    "search": _search,
    "calls": _calls,
    "agent": _agent,
    "trends": _trends,
    "incidents": _incidents,
}


def _shown(columns: Iterable[str], user: User) -> list[str]:
    """The columns this role may have: none naming an agent for a role that sees no agents,
    no audio link for one that may not listen."""
    hidden = set()
    if not user.sees_agents:
        hidden.add("agent_id")
    if not user.hears_audio:
        hidden.add("audio_url")
    return [column for column in columns if column not in hidden]


def _columns(rows: list[dict], fallback: list[str]) -> list[str]:
    """The rows' keys in their order (the fallback when there are no rows)."""
    if not rows:
        return fallback
    return list(dict.fromkeys(key for row in rows for key in row))


def _today(ctx: Context) -> str:
    return dt.datetime.now(ZoneInfo(ctx.settings.timezone)).strftime("%Y-%m-%d-%H%M")


def _safe(text: str) -> str:
    """`text` for a file name: ASCII letters, digits, '-' and '_' only."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)
    return kept[:40] or "_"


def file_name(sheet: Sheet, fmt: str) -> str:
    return f"callscope-{sheet.kind}-{sheet.label}.{fmt}"


# cells -----------------------------------------------------------------------------------
def cell(value, column: str, tz: ZoneInfo):
    """An API value as a spreadsheet cell: a time in `tz` (naive), lists and context lines
    joined into one text, anything else as it is."""
    if value is None:
        return None
    if column in TIME_COLUMNS and isinstance(value, str):
        return dt.datetime.fromisoformat(value).astimezone(tz).replace(tzinfo=None)
    if isinstance(value, list):
        return _joined(value) if value else None
    if isinstance(value, dict):
        return _entry(value)
    return value


def _joined(values: list) -> str:
    if values and all(isinstance(value, dict) for value in values):
        return "\n".join(_entry(value) for value in values)
    return "; ".join(str(value) for value in values)


def _entry(value: dict) -> str:
    """A context segment or an example: "customer 6.15: 喂，你好。" (its link left out)."""
    label = " ".join(str(v) for k, v in value.items() if k not in ("text", "url") and v is not None)
    text = value.get("text")
    return f"{label}: {text}" if text is not None else label


def csv_text(value) -> str:
    """A cell as CSV text; a text a spreadsheet would take for a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_START) else value
    return str(value)


# writers ---------------------------------------------------------------------------------
def csv_chunks(sheet: Sheet, tz: ZoneInfo, done: Callable[[], None]) -> Iterator[bytes]:
    """The CSV: its byte-order mark and header, then a few hundred rows at a time. `done` is
    called once it is written, or once the chunks are dropped unfinished (the client went
    away) provided the first chunk was taken: take it before handing the rest on."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    try:
        buffer.write("\ufeff")
        writer.writerow(sheet.columns)
        yield _drain(buffer)
        for n, row in enumerate(sheet.capped(), 1):
            writer.writerow([csv_text(cell(row.get(c), c, tz)) for c in sheet.columns])
            if n % CSV_BATCH == 0:
                yield _drain(buffer)
        for note in sheet.note_rows():
            writer.writerow([note])
        yield _drain(buffer)
    finally:
        done()


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def xlsx_file(sheet: Sheet, tz: ZoneInfo) -> IO[bytes]:
    """The workbook in an unnamed temporary file (gone once closed), at its start."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet.kind)
    ws.freeze_panes = "A2"
    ws.append(sheet.columns)
    for row in sheet.capped():
        ws.append([_xlsx_value(ws, cell(row.get(c), c, tz)) for c in sheet.columns])
    for note in sheet.note_rows():
        ws.append([_xlsx_value(ws, note)])
    handle = tempfile.TemporaryFile(prefix="callscope-export-")
    try:
        book.save(handle)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle


def _xlsx_value(ws, value):
    """Text without the characters a workbook cannot hold, and always text: one starting
    with '=' would otherwise be written as a formula."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)[:XLSX_TEXT_MAX]
    if not value.startswith("="):
        return value
    text = WriteOnlyCell(ws, value)
    text.data_type = "s"
    return text


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk


# the audit log ---------------------------------------------------------------------------
_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    params TEXT NOT NULL,
    rows INTEGER NOT NULL,
    total INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    client TEXT NOT NULL
);
"""
_LOG_COLUMNS = (
    "id", "at", "user", "role", "kind", "format", "params", "rows", "total", "truncated",
    "client",
)  # fmt: skip
_LOG_INSERT = (
    f"INSERT INTO exports ({', '.join(_LOG_COLUMNS[1:])}) "
    f"VALUES ({', '.join('?' * (len(_LOG_COLUMNS) - 1))})"
)
_LOG_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExportEntry:
    user: str
    role: str
    kind: str
    format: str
    params: dict[str, str | list[str]]
    rows: int
    total: int
    truncated: bool
    client: str


class ExportLog:
    """Every export, one row each, in one SQLite file (readable by its owner alone) that the
    server processes share: `at` is UTC (ISO 8601), `params` the query parameters as JSON,
    `rows` the data rows the file holds, `total` how many the selection had."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def record(self, entry: ExportEntry) -> None:
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        params = json.dumps(entry.params, ensure_ascii=False, sort_keys=True)
        values = (
            at, entry.user, entry.role, entry.kind, entry.format, params, entry.rows,
            entry.total, int(entry.truncated), entry.client,
        )  # fmt: skip
        with self._open() as db:
            with db:  # one transaction
                db.execute(_LOG_INSERT, values)

    def recent(self, limit: int = 100, user: str | None = None) -> list[dict]:
        """The latest exports, newest first (of one user where named)."""
        where, args = ("WHERE user = ?", [user]) if user else ("", [])
        query = f"SELECT {', '.join(_LOG_COLUMNS)} FROM exports {where} ORDER BY id DESC LIMIT ?"
        with self._open() as db:
            rows = db.execute(query, [*args, limit]).fetchall()
        return [_log_row(dict(zip(_LOG_COLUMNS, row, strict=True))) for row in rows]

    def _open(self) -> closing[sqlite3.Connection]:
        try:
            self._create_private()
            db = sqlite3.connect(self.path, timeout=10)
            db.executescript(_LOG_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise Unavailable(f"the export log {self.path} cannot be used ({exc})") from exc
        return closing(db)

    def _create_private(self) -> None:
        """Create the file readable by its owner alone, only when it does not exist yet (an
        existing one is never opened but by SQLite: see SessionStore in web/auth.py)."""
        with _LOG_LOCK:
            if self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                return


def _log_row(row: dict) -> dict:
    return row | {"params": json.loads(row["params"]), "truncated": bool(row["truncated"])}


def log_of(ctx: Context) -> ExportLog:
    with _LOG_LOCK:
        if ctx.export_log is None:
            ctx.export_log = ExportLog(ctx.settings.web_dir / LOG_FILE)
        return ctx.export_log


def query_of(params) -> dict[str, str | list[str]]:
    """The query parameters as the log keeps them: a value, or the list of a repeated one."""
    out: dict[str, str | list[str]] = {}
    for key in dict.fromkeys(params.keys()):
        values = params.getlist(key)
        out[key] = values[0] if len(values) == 1 else values
    return out


def audit(ctx: Context, user: User, sheet: Sheet, fmt: str, params, client: str) -> None:
    """The export in the log before any of it is sent: no log, no export."""
    entry = ExportEntry(
        user=user.name,
        role=user.role,
        kind=sheet.kind,
        format=fmt,
        params=query_of(params),
        rows=sheet.written,
        total=sheet.total,
        truncated=sheet.truncated,
        client=client,
    )
    try:
        log_of(ctx).record(entry)
    except sqlite3.Error as exc:
        raise Unavailable(f"the export log cannot be written ({exc})") from exc
    logger.info(
        "export %s.%s by %s (%s): %d of %d rows",
        *(sheet.kind, fmt, user.name, user.role, sheet.written, sheet.total),
    )


def split_name(name: str) -> tuple[str, str]:
    """("search", "csv") of "search.csv"."""
    kind, _, fmt = name.rpartition(".")
    if fmt not in FORMATS or not kind:
        raise BadRequest(f"{name!r}: ask for <kind>.csv or <kind>.xlsx, e.g. search.xlsx")
    return kind, fmt
