"""The Parquet warehouse: `<table>/date=YYYY-MM-DD/part-0.parquet`, written atomically.

Each call is first staged on its own (`_staging/date=D/<key>.{segments,calls}.parquet`, the
calls file written last, so a staged call is complete when its calls file exists). Committing a
day merges the staged calls into the day's partitions, replacing any earlier rows of the same
calls, and only then removes the staged files: a crash at any point leaves either the old or
the new partition plus staged files that the next commit applies again, never a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from asr.errors import CallscopeError
from storage.schemas import TABLES, empty_table, to_table

logger = logging.getLogger(__name__)

PART_NAME = "part-0.parquet"
STAGING = "_staging"


class WarehouseError(CallscopeError):
    """A partition file that cannot be read; the message names it and the way out."""


class Warehouse:
    def __init__(self, root: Path):
        self.root = Path(root)

    # paths -----------------------------------------------------------------
    def partition(self, table: str, day: dt.date) -> Path:
        return self.root / table / f"date={day.isoformat()}"

    def staging_dir(self, day: dt.date) -> Path:
        return self.root / STAGING / f"date={day.isoformat()}"

    # reading ---------------------------------------------------------------
    def read(self, table: str, day: dt.date) -> pa.Table:
        """The committed rows of one day (empty table when nothing is there)."""
        path = self.partition(table, day) / PART_NAME
        if not path.exists():
            return empty_table(table)
        try:
            return pq.read_table(path, schema=TABLES[table])
        except (pa.ArrowException, OSError) as exc:
            raise WarehouseError(
                f"{path} cannot be read ({exc}); restore it from backup, or delete it and run "
                f"the night of {day} again"
            ) from exc

    def read_range(self, table: str, start: dt.date | None = None, end: dt.date | None = None):
        days = [
            day
            for day in self.days(table)
            if (not start or day >= start) and (not end or day <= end)
        ]
        tables = [self.read(table, day) for day in days]
        return pa.concat_tables(tables) if tables else empty_table(table)

    def days(self, table: str = "calls") -> list[dt.date]:
        folder = self.root / table
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob("date=*"):
            try:
                found.append(dt.date.fromisoformat(path.name.removeprefix("date=")))
            except ValueError:
                logger.warning("ignoring %s: not a date=YYYY-MM-DD partition", path)
        return sorted(found)

    def done_calls(self, day: dt.date) -> dict[str, dict]:
        """call_id -> its latest calls row, committed or staged."""
        rows = {row["call_id"]: row for row in self.read("calls", day).to_pylist()}
        staged = self._read_staged("calls", day)
        rows.update({row["call_id"]: row for row in staged.to_pylist()})
        return rows

    # writing ---------------------------------------------------------------
    def stage_call(self, day: dt.date, call_row: dict, segment_rows: list[dict]) -> None:
        """Stage one call's rows; safe to call again for the same call (it replaces)."""
        folder = self.staging_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        key = _file_key(call_row["call_id"])
        _write_atomic(to_table("segments", segment_rows), folder / f"{key}.segments.parquet")
        _write_atomic(to_table("calls", [call_row]), folder / f"{key}.calls.parquet")

    def commit_day(self, day: dt.date) -> int:
        """Merge staged calls into the day's partitions; returns how many calls were merged."""
        folder = self.staging_dir(day)
        call_files = sorted(folder.glob("*.calls.parquet")) if folder.is_dir() else []
        if not call_files:
            return 0
        staged_calls = self._read_staged("calls", day)
        staged_ids = pa.array(staged_calls["call_id"].to_pylist(), pa.string())
        segment_files = [_segments_file(path) for path in call_files]
        staged_segments = _concat("segments", [p for p in segment_files if p.exists()])
        for table, staged in (("segments", staged_segments), ("calls", staged_calls)):
            current = self.read(table, day)
            kept = current.filter(pc.invert(pc.is_in(current["call_id"], staged_ids)))
            merged = pa.concat_tables([kept, staged]).sort_by(
                [("call_id", "ascending")] + ([("idx", "ascending")] if table == "segments" else [])
            )
            target = self.partition(table, day)
            target.mkdir(parents=True, exist_ok=True)
            _write_atomic(merged, target / PART_NAME)
        for path in call_files + segment_files:
            path.unlink(missing_ok=True)
        logger.info("committed %d calls to %s", len(call_files), self.partition("calls", day))
        return len(call_files)

    def replace_day(self, table: str, day: dt.date, rows: pa.Table) -> None:
        """Write a whole day of `table` at once (atomic: readers see old or new)."""
        target = self.partition(table, day)
        target.mkdir(parents=True, exist_ok=True)
        _write_atomic(rows.cast(TABLES[table]), target / PART_NAME)

    def partition_files(self, day: dt.date, tables=("calls", "segments")) -> list[Path]:
        return [self.partition(table, day) / PART_NAME for table in tables]

    def _read_staged(self, table: str, day: dt.date) -> pa.Table:
        folder = self.staging_dir(day)
        if not folder.is_dir():
            return empty_table(table)
        return _concat(table, sorted(folder.glob(f"*.{table}.parquet")))


def _concat(table: str, paths: list[Path]) -> pa.Table:
    tables = [pq.read_table(path, schema=TABLES[table]) for path in paths]
    return pa.concat_tables(tables) if tables else empty_table(table)


def _segments_file(calls_file: Path) -> Path:
    return calls_file.with_name(calls_file.name.replace(".calls.parquet", ".segments.parquet"))


def _file_key(call_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:40]
    return f"{safe}-{hashlib.sha1(call_id.encode()).hexdigest()[:10]}"


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
