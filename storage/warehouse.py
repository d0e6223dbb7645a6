"""The Parquet warehouse, and the one way into it: reads, writes, versions, days, locks.

Layout, as Hive and Spark write it: `<root>/<table>/date=YYYY-MM-DD/part-0.parquet`. The date
lives in the folder name only (the files hold every other column of storage/schemas.py), so
pandas, pyarrow datasets, Polars and DuckDB all open a table folder with hive partitioning.
Everything goes through a `pyarrow.fs` file system: the `warehouse` setting is a folder or a URI
(file://, s3://, gs://, hdfs://), opened by core/location.py. Writing a day needs its lock,
a file in a local or mounted folder (`local_path`); reading needs only the file system.

Writing a day:
- The night stages each call on its own (`_staging/date=D/<key>.{segments,calls}.parquet`, the
  calls file last, so a staged call is complete when its calls file exists); committing merges
  the staged calls into the day's partitions, replacing earlier rows of the same calls.
- Every write of a day replaces whole partitions of one or more tables at once: each new file is
  written beside its target as a hidden `.part-0.parquet.<id>.tmp`, then a journal
  (`_journal/date=D.json`) listing the renames is written atomically (the commit point), then
  the files are renamed into place and the journal removed. Readers of this API that find a
  journal read the new files, so a day is seen wholly before or wholly after a write; a writer
  killed after the commit point is rolled forward by the next writer of that day, one killed
  before it leaves temporary files that the next writer removes.
- Writers of a day hold its lock (storage/locks.py): the night for its whole run, every
  `apply` command for its steps.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from callscope.core.errors import NotALocalFolder, PartitionUnreadable, WarehouseError
from callscope.core.location import is_uri, open_filesystem, shown
from callscope.core.logs import get_logger
from callscope.storage.locks import DayLock
from callscope.storage.schemas import (
    PARTITION_KEY,
    PARTITIONED_TABLES,
    TABLES,
    empty_table,
    file_schema,
    to_table,
)

logger = get_logger(__name__)

PART_NAME = "part-0.parquet"
STAGING = "_staging"
# what a night stages per call: calls and segments always, the others where the call's worker
# made them (a part categorizes and embeds its calls; a single-process night leaves that to
# the day's steps)
STAGED_TABLES = ("calls", "segments", "keyword_hits", "statement_vectors")
JOURNAL = "_journal"
STATE = "_state"
LOCKS = "_locks"
PARTS = "_parts"
TMP_SUFFIX = ".tmp"
READ_THREADS = 8  # staged files read at once by a commit
DEFAULT_LOCK_WAIT_S = 300.0
DEFAULT_LOCK_STALE_S = 120.0
FULL_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class Warehouse:
    def __init__(
        self,
        root: str | Path,
        filesystem: pafs.FileSystem | None = None,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
        lock_stale_after_s: float = DEFAULT_LOCK_STALE_S,
    ):
        """`root`: a folder or a URI (core/location.py opens it), or with `filesystem` the
        warehouse's path inside that file system."""
        self.location = shown(root)  # as configured, for messages
        self._uri = is_uri(root)
        if filesystem is None:
            filesystem, root = open_filesystem(root, "warehouse")
        self.fs = filesystem
        local = isinstance(self.fs, pafs.LocalFileSystem)
        # a local folder is a Path (whether given as a path or as a file:// URI)
        self.root: Path | str = self.location if self._uri and not local else Path(root)
        self.base = str(Path(root).resolve()) if local else str(root).rstrip("/")
        self.local = local
        self.lock_wait_s = lock_wait_s
        self.lock_stale_after_s = lock_stale_after_s

    @classmethod
    def from_settings(cls, settings, root: str | Path | None = None) -> Warehouse:
        """The warehouse of a loaded configuration (core.config.Settings)."""
        return cls(
            root or settings.warehouse,
            lock_wait_s=settings.lock.wait_s,
            lock_stale_after_s=settings.lock.stale_after_s,
        )

    # paths -------------------------------------------------------------------
    def local_path(self, needs: str, instead: str = "") -> Path:
        """The warehouse's local folder, for a part that needs POSIX files (`needs`, named in
        the error); NotALocalFolder naming the `warehouse` setting on any other file system."""
        if self.local:
            return Path(self.base)
        where = self.location if self._uri else f"{self.base} ({self.fs.type_name})"
        raise NotALocalFolder("warehouse", where, needs, instead)

    def _path(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def _part(self, table: str, day: dt.date) -> str:
        return self._path(table, _day_dir(day), PART_NAME)

    def _staging(self, day: dt.date) -> str:
        return self._path(STAGING, _day_dir(day))

    def _journal(self, day: dt.date) -> str:
        return self._path(JOURNAL, f"{_day_dir(day)}.json")

    def _exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    # reading -----------------------------------------------------------------
    def read(self, table: str, day: dt.date, columns: Iterable[str] | None = None) -> pa.Table:
        """The committed rows of one day (an empty table when there are none), with the `date`
        column filled from the partition when asked for (all columns by default)."""
        columns = list(columns) if columns is not None else TABLES[table].names
        stored = [name for name in columns if name != PARTITION_KEY]
        for attempt in range(3):
            path = self._current(table, day)
            if path is None:
                return _with_date(file_schema(table).empty_table().select(stored), day, columns)
            try:
                rows = self._read_file(path, file_schema(table), stored)
            except FileNotFoundError:
                continue  # renamed into place meanwhile: look again
            except (pa.ArrowException, OSError) as exc:
                if not self._exists(path) and attempt < 2:
                    continue
                raise PartitionUnreadable(table, day, path, _reason(exc)) from exc
            return _with_date(rows, day, columns)
        raise PartitionUnreadable(table, day, self._part(table, day), "kept changing while read")

    def read_range(
        self,
        table: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: Iterable[str] | None = None,
    ) -> pa.Table:
        columns = list(columns) if columns is not None else None
        days = [d for d in self.days(table) if (not start or d >= start) and (not end or d <= end)]
        tables = [self.read(table, day, columns) for day in days]
        if tables:
            return pa.concat_tables(tables)
        return empty_table(table).select(columns) if columns else empty_table(table)

    def exists(self, table: str, day: dt.date) -> bool:
        return self._current(table, day) is not None

    def version(self, table: str, day: dt.date) -> str | None:
        """A token that changes whenever the day's partition of `table` is rewritten."""
        path = self._current(table, day)
        if path is None:
            return None
        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:  # renamed into place meanwhile
            info = self.fs.get_file_info(self._part(table, day))
            if info.type == pafs.FileType.NotFound:
                return None
        return f"{info.mtime_ns or 0:x}-{info.size or 0:x}"

    def days(self, table: str = "calls") -> list[dt.date]:
        """The days that have a partition of `table`, oldest first."""
        found = set()
        folder = self._path(table)
        if self._exists(folder):
            selector = pafs.FileSelector(folder, recursive=True)
            for info in self.fs.get_file_info(selector):
                parent, _, name = info.path.rpartition("/")
                if name == PART_NAME and (day := _parse_day(parent.rpartition("/")[2])):
                    found.add(day)
        found.update(day for day in self._journal_days() if self._pending(day, table))
        return sorted(found)

    def done_calls(self, day: dt.date) -> dict[str, dict]:
        """call_id -> its latest calls row, committed or staged."""
        rows = {row["call_id"]: row for row in self.read("calls", day).to_pylist()}
        staged = self._read_staged("calls", day).to_pylist()
        latest = dt.datetime.min.replace(tzinfo=dt.UTC)
        staged.sort(key=lambda row: row.get("processed_at") or latest)  # the latest wins
        rows.update({row["call_id"]: row for row in staged})
        return rows

    # writing -----------------------------------------------------------------
    def lock_day(self, day: dt.date, purpose: str = "a writer") -> DayLock:
        """The day's writer lock (re-entrant in this process); entering it also recovers
        whatever a killed writer of the day left behind."""
        folder = self.local_path("the day lock (every write of a day)")
        lock = DayLock(
            folder / LOCKS / f"{_day_dir(day)}.lock",
            purpose,
            self.lock_wait_s,
            self.lock_stale_after_s,
        )
        return _RecoveringLock(lock, self, day)

    def stage_call(self, day: dt.date, call_row: dict, segment_rows: list[dict]) -> None:
        """Stage one call's rows; safe to call again for the same call (it replaces)."""
        folder = self._staging(day)
        self.fs.create_dir(folder, recursive=True)
        key = _file_key(call_row["call_id"])
        self._write_file(to_table("segments", segment_rows), f"{folder}/{key}.segments.parquet")
        self._write_file(to_table("calls", [call_row]), f"{folder}/{key}.calls.parquet")

    def stage_calls(
        self,
        day: dt.date,
        calls: list[tuple[dict, list[dict]]],
        extra: dict[str, list[dict]] | None = None,
    ) -> None:
        """Stage several calls in one set of files (a part's batch: far fewer files for the
        commit to read), with rows of the other staged tables made for them where the calls
        were processed (`extra`: keyword_hits, statement_vectors). A call staged again later,
        alone or in a later batch, replaces all these rows: the commit keeps each call's rows
        from its latest `processed_at`. The calls file is written last: the others of a batch
        are there whenever it is."""
        if not calls:
            return
        folder = self._staging(day)
        self.fs.create_dir(folder, recursive=True)
        key = f"batch-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        unknown = set(extra or {}) - set(STAGED_TABLES[2:])
        if unknown:
            raise ValueError(f"not staged with calls: {sorted(unknown)}")
        tables = {"segments": [segment for _, rows in calls for segment in rows], **(extra or {})}
        for table, rows in tables.items():
            self._write_file(to_table(table, rows), f"{folder}/{key}.{table}.parquet")
        rows = [row for row, _ in calls]
        self._write_file(to_table("calls", rows), f"{folder}/{key}.calls.parquet")

    def commit_day(self, day: dt.date) -> int:
        """Merge staged calls into the day's partitions; returns how many calls were merged."""
        with self.lock_day(day, "commit"):
            call_files = self._staged_files(day, "calls")
            if not call_files:
                return 0
            staged = self._latest_staged(call_files)
            ids = staged["calls"]["call_id"]
            merged = {
                table: _merge(self.read(table, day), rows, ids, table)
                for table, rows in staged.items()
                if rows is not None or self.exists(table, day)
            }
            self.write_day(day, merged)
            for table in STAGED_TABLES:  # every staged file of the day is merged now
                for path in self._staged_files(day, table):
                    self.fs.delete_file(path)
            if not self.fs.get_file_info(pafs.FileSelector(self._staging(day))):
                self.fs.delete_dir(self._staging(day))
        logger.info("committed %d calls of %s (%d staged files)", len(ids), day, len(call_files))
        return len(ids)

    def _latest_staged(self, call_files: list[str]) -> dict[str, pa.Table | None]:
        """The staged rows of each staged table, each call's rows from the file that staged
        it last (only calls and segments are in every batch; None for a table in none)."""
        tables = self._read_files(call_files, TABLES["calls"])
        latest: dict[str, tuple] = {}
        for n, table in enumerate(tables):
            for call_id, at in zip(
                table["call_id"].to_pylist(), table["processed_at"].to_pylist(), strict=True
            ):
                rank = (at is not None, at or dt.datetime.min.replace(tzinfo=dt.UTC), n)
                if call_id not in latest or rank >= latest[call_id]:
                    latest[call_id] = rank
        wanted: dict[int, list[str]] = {}
        for call_id, rank in latest.items():
            wanted.setdefault(rank[2], []).append(call_id)
        folder = call_files[0].rpartition("/")[0] if call_files else ""
        present = {info.path for info in self.fs.get_file_info(pafs.FileSelector(folder))}
        jobs = [
            (n, other, path.removesuffix(".calls.parquet") + f".{other}.parquet")
            for n, path in enumerate(call_files)
            if n in wanted
            for other in STAGED_TABLES[1:]
        ]
        jobs = [job for job in jobs if job[1] == "segments" or job[2] in present]
        others = self._read_files([job[2] for job in jobs], [TABLES[job[1]] for job in jobs])
        found: dict[str, list[pa.Table]] = {table: [] for table in STAGED_TABLES}
        for n in sorted(wanted):
            found["calls"].append(_rows_of(tables[n], wanted[n]))
        for (n, other, _), rows in zip(jobs, others, strict=True):
            found[other].append(_rows_of(rows, wanted[n], whole=tables[n].num_rows))
        return {
            table: pa.concat_tables(parts) if parts else _none_staged(table)
            for table, parts in found.items()
        }

    def _read_files(self, paths: list[str], schemas: pa.Schema | list[pa.Schema]) -> list[pa.Table]:
        """Many small files at once (Parquet decoding releases the GIL), in `paths`' order."""
        if isinstance(schemas, pa.Schema):
            schemas = [schemas] * len(paths)
        if len(paths) < 4:
            return [self._read_file(p, s) for p, s in zip(paths, schemas, strict=True)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(READ_THREADS) as pool:
            return list(pool.map(self._read_file, paths, schemas))

    def replace_day(self, table: str, day: dt.date, rows: pa.Table) -> None:
        """Write a whole day of `table` at once (readers see old or new)."""
        self.write_day(day, {table: rows})

    def write_day(self, day: dt.date, tables: dict[str, pa.Table]) -> None:
        """Replace the day's partitions of several tables at once: readers see all or none."""
        with self.lock_day(day, "write"):
            moves: list[tuple[str, str]] = []
            try:
                for table, rows in tables.items():
                    target = self._part(table, day)
                    self.fs.create_dir(target.rpartition("/")[0], recursive=True)
                    tmp = _tmp_beside(target)
                    self._write_parquet(_file_rows(table, rows), tmp)
                    moves.append((tmp, target))
                self._apply(day, moves)
            except BaseException:
                if not self._exists(self._journal(day)):  # not committed: the old files stand
                    for tmp, _ in moves:
                        self._delete(tmp)
                raise

    def delete_day(self, table: str, day: dt.date) -> None:
        with self.lock_day(day, "delete"):
            folder = self._path(table, _day_dir(day))
            if self._exists(folder):
                self.fs.delete_dir(folder)

    # per-day state (the step runner's record of what ran) ------------------------
    def read_state(self, day: dt.date) -> dict:
        path = self._path(STATE, f"{_day_dir(day)}.json")
        try:
            with self.fs.open_input_stream(path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("%s unreadable (%s): every step of %s will run again", path, exc, day)
            return {}

    def write_state(self, day: dt.date, state: dict) -> None:
        folder = self._path(STATE)
        self.fs.create_dir(folder, recursive=True)
        data = json.dumps(state, indent=1, sort_keys=True).encode("utf-8")
        path = f"{folder}/{_day_dir(day)}.json"
        tmp = _tmp_beside(path)
        self._write_bytes(data, tmp)
        self.fs.move(tmp, path)

    # parts of a night fanned out over workers (small JSON files on the shared folder) ----
    def write_part_file(self, day: dt.date, name: str, record: dict) -> None:
        """Replace `<warehouse>/_parts/date=D/<name>.json` atomically (a heartbeat, a report)."""
        folder = self._path(PARTS, _day_dir(day))
        self.fs.create_dir(folder, recursive=True)
        path = f"{folder}/{name}.json"
        tmp = _tmp_beside(path)
        self._write_bytes(json.dumps(record, default=str).encode("utf-8"), tmp)
        self.fs.move(tmp, path)

    def part_file_path(self, day: dt.date, name: str) -> str:
        return self._path(PARTS, _day_dir(day), f"{name}.json")

    def read_part_file(self, day: dt.date, name: str) -> tuple[dict | None, float | None]:
        """The record and how many seconds ago it was written; (None, None) when absent."""
        path = self.part_file_path(day, name)
        try:
            info = self.fs.get_file_info(path)
            if info.type != pafs.FileType.File:
                return None, None
            with self.fs.open_input_stream(path) as handle:
                record = json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as exc:
            logger.warning("%s unreadable (%s)", path, exc)
            return None, None
        age = dt.datetime.now(dt.UTC).timestamp() - info.mtime.timestamp() if info.mtime else None
        return record, age

    def clear_part_files(self, day: dt.date) -> None:
        folder = self._path(PARTS, _day_dir(day))
        if self._exists(folder):
            self.fs.delete_dir(folder)

    # recovery ----------------------------------------------------------------
    def recover(self, day: dt.date) -> None:
        """Finish a committed write of `day` that a killed writer left half done, and remove
        temporary files no commit refers to. Call it holding the day's lock."""
        journal = self._read_journal(day)
        if journal is not None:
            moved = 0
            for tmp, target in journal:
                if self._exists(tmp):
                    self.fs.move(tmp, target)
                    moved += 1
            self.fs.delete_file(self._journal(day))
            logger.warning("%s: finished an interrupted write (%d files)", day, moved)
        removed = [path for path in self._orphans(day) if self._delete(path)]
        if removed:
            logger.warning("%s: removed %d temporary files of a killed run", day, len(removed))

    def _orphans(self, day: dt.date) -> Iterator[str]:
        folders = [self._path(t, _day_dir(day)) for t in PARTITIONED_TABLES] + [self._staging(day)]
        folders += [self._path(STATE), self._path(JOURNAL), self._path(PARTS, _day_dir(day))]
        for folder in folders:
            if not self._exists(folder):
                continue
            for info in self.fs.get_file_info(pafs.FileSelector(folder)):
                name = info.path.rpartition("/")[2]
                if name.endswith(TMP_SUFFIX) and _tmp_day(name, folder, day):
                    yield info.path

    # internals -----------------------------------------------------------------
    def _current(self, table: str, day: dt.date) -> str | None:
        """The file holding the day's rows now: a committed write's new file while its
        renames are under way, else the partition file; None when there is none."""
        pending = self._pending(day, table)
        if pending is not None and self._exists(pending):
            return pending
        target = self._part(table, day)
        return target if self._exists(target) else None

    def _pending(self, day: dt.date, table: str) -> str | None:
        journal = self._read_journal(day)
        if not journal:
            return None
        target = self._part(table, day)
        return next((tmp for tmp, final in journal if final == target), None)

    def _journal_days(self) -> list[dt.date]:
        folder = self._path(JOURNAL)
        if not self._exists(folder):
            return []
        names = [
            i.path.rpartition("/")[2] for i in self.fs.get_file_info(pafs.FileSelector(folder))
        ]
        return [d for n in names if n.endswith(".json") and (d := _parse_day(n[:-5]))]

    def _read_journal(self, day: dt.date) -> list[tuple[str, str]] | None:
        try:
            with self.fs.open_input_stream(self._journal(day)) as handle:
                moves = json.loads(handle.read().decode("utf-8"))["moves"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # written atomically: unreadable means being replaced; next look wins
        return [
            (self._path(*tmp.split("/")), self._path(*final.split("/"))) for tmp, final in moves
        ]

    def _apply(self, day: dt.date, moves: list[tuple[str, str]]) -> None:
        if len(moves) > 1:
            relative = [[_relative(self.base, a), _relative(self.base, b)] for a, b in moves]
            self.fs.create_dir(self._path(JOURNAL), recursive=True)
            journal = self._journal(day)
            tmp = _tmp_beside(journal)
            self._write_bytes(json.dumps({"moves": relative}).encode("utf-8"), tmp)
            self.fs.move(tmp, journal)  # the commit point
        for tmp, target in moves:
            self.fs.move(tmp, target)
        if len(moves) > 1:
            self.fs.delete_file(self._journal(day))

    def _staged_files(self, day: dt.date, table: str) -> list[str]:
        folder = self._staging(day)
        if not self._exists(folder):
            return []
        suffix = f".{table}.parquet"
        infos = self.fs.get_file_info(pafs.FileSelector(folder))
        return sorted(i.path for i in infos if i.path.endswith(suffix))

    def _read_staged(self, table: str, day: dt.date) -> pa.Table:
        return self._concat(table, self._staged_files(day, table))

    def _concat(self, table: str, paths: list[str]) -> pa.Table:
        tables = [self._read_file(path, TABLES[table]) for path in paths]
        return pa.concat_tables(tables) if tables else empty_table(table)

    def _read_file(
        self, path: str, schema: pa.Schema, columns: list[str] | None = None
    ) -> pa.Table:
        with self.fs.open_input_file(path) as handle:
            if columns is None:  # the usual case, a file of today's schema: read it directly
                whole = pq.ParquetFile(handle)
                if whole.schema_arrow.equals(schema, check_metadata=False):
                    return whole.read()
                handle.seek(0)
            return pq.read_table(handle, schema=schema, columns=columns)

    def _write_file(self, table: pa.Table, path: str) -> None:
        tmp = _tmp_beside(path)
        self._write_parquet(table, tmp)
        try:
            self.fs.move(tmp, path)
        except BaseException:
            self._delete(tmp)
            raise

    def _write_parquet(self, table: pa.Table, path: str) -> None:
        _write(self.fs, path, lambda out: pq.write_table(table, out, compression="zstd"))

    def _write_bytes(self, data: bytes, path: str) -> None:
        _write(self.fs, path, lambda out: out.write(data))

    def _delete(self, path: str) -> bool:
        return _delete(self.fs, path)


class _RecoveringLock:
    """The day lock; the first entry in this process also recovers the day."""

    def __init__(self, lock: DayLock, store: Warehouse, day: dt.date):
        self.lock, self.store, self.day = lock, store, day

    def __enter__(self) -> DayLock:
        held = self.lock.__enter__()
        self._held = held
        if held.depth == 1:
            try:
                self.store.recover(self.day)
            except BaseException:
                held.__exit__(None, None, None)
                raise
        return held

    def __exit__(self, *exc) -> None:
        self._held.__exit__(*exc)


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as one Parquet file's bytes (zstd), for files written outside the partitions."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def read_parquet(path: str | Path) -> pa.Table:
    """One Parquet file outside the partitions (a hand-off's tables), whole."""
    return pq.read_table(path)


def write_file(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """One file (a hand-off bundle's) written through `fs`, durably on a local disk; nothing
    is left on error."""
    _write(fs, path, lambda out: out.write(data))


def _write(fs: pafs.FileSystem, path: str, fill) -> None:
    """Write `path` through `fill(stream)`, durably on a local disk; nothing is left on error.
    A full disk or quota is a WarehouseError naming the file and the space left."""
    try:
        with fs.open_output_stream(path) as out:
            fill(out)
        if isinstance(fs, pafs.LocalFileSystem):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException as exc:
        _delete(fs, path)
        if isinstance(exc, OSError) and exc.errno in FULL_DISK_ERRNOS:
            raise _full_disk(fs, path, exc) from exc
        raise


def _full_disk(fs: pafs.FileSystem, path: str, exc: OSError) -> WarehouseError:
    target = _target_of(path)
    what = "no space left" if exc.errno == errno.ENOSPC else "the disk quota is used up"
    return WarehouseError(
        f"{what} on the file system of {target} while writing it ({_free_space(fs, path)}); "
        "the files already stored are unchanged: free some space there (or raise the quota) "
        "and run the command again"
    )


def _free_space(fs: pafs.FileSystem, path: str) -> str:
    if not isinstance(fs, pafs.LocalFileSystem):
        return "free space unknown on this file system"
    try:
        usage = shutil.disk_usage(path.rpartition("/")[0] or "/")
    except OSError:
        return "free space unknown"
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while n >= 1024 and step < len(units) - 1:
        n, step = n / 1024, step + 1
    return f"{n:.0f} B" if step == 0 else f"{n:.1f} {units[step]}"


def _target_of(path: str) -> str:
    """The file a temporary file of `_tmp_beside` stands in for."""
    folder, _, name = path.rpartition("/")
    found = re.fullmatch(rf"\.(.+)\.[0-9a-f]{{32}}{re.escape(TMP_SUFFIX)}", name)
    return f"{folder}/{found.group(1)}" if found else path


def _delete(fs: pafs.FileSystem, path: str) -> bool:
    try:
        fs.delete_file(path)
        return True
    except FileNotFoundError:
        return False


def _rows_of(table: pa.Table, call_ids: list[str], whole: int | None = None) -> pa.Table:
    """`table`'s rows of `call_ids`; all of them, unfiltered, when its batch's calls file had
    exactly these calls (`whole`: that file's row count; the usual case, nothing restaged)."""
    if len(call_ids) == (table.num_rows if whole is None else whole):
        return table
    return table.filter(pc.is_in(table["call_id"], pa.array(call_ids, pa.string())))


def _none_staged(table: str) -> pa.Table | None:
    return empty_table(table) if table in STAGED_TABLES[:2] else None


def _merge(current: pa.Table, staged: pa.Table | None, ids: pa.Array, table: str) -> pa.Table:
    """The day's rows of `table` with those of the staged calls (`ids`) replaced by `staged`
    (their old rows dropped where nothing of `table` was staged for them)."""
    kept = current.filter(pc.invert(pc.is_in(current["call_id"], ids)))
    if staged is None:
        return kept
    keys = [("call_id", "ascending")] + ([("idx", "ascending")] if table == "segments" else [])
    return pa.concat_tables([kept, staged]).sort_by(keys)


def _file_rows(table: str, rows: pa.Table) -> pa.Table:
    """The rows as stored: every column of the schema but the partition key."""
    schema = file_schema(table)
    missing = [name for name in schema.names if name not in rows.column_names]
    for name in missing:
        rows = rows.append_column(
            schema.field(name), pa.nulls(rows.num_rows, schema.field(name).type)
        )
    return rows.select(schema.names).cast(schema)


def _with_date(rows: pa.Table, day: dt.date, columns: list[str]) -> pa.Table:
    if PARTITION_KEY not in columns:
        return rows
    date = pa.array([day] * rows.num_rows, pa.date32())
    rows = rows.append_column(pa.field(PARTITION_KEY, pa.date32(), nullable=False), date)
    return rows.select(columns)


def _day_dir(day: dt.date) -> str:
    return f"{PARTITION_KEY}={day.isoformat()}"


def _parse_day(name: str) -> dt.date | None:
    if not name.startswith(f"{PARTITION_KEY}="):
        return None
    try:
        return dt.date.fromisoformat(name.removeprefix(f"{PARTITION_KEY}="))
    except ValueError:
        logger.warning("ignoring %s: not a %s=YYYY-MM-DD partition", name, PARTITION_KEY)
        return None


def _tmp_beside(path: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}.{uuid.uuid4().hex}{TMP_SUFFIX}"


def _tmp_day(name: str, folder: str, day: dt.date) -> bool:
    """Temporary files in shared folders (state, journal) belong to the day they name."""
    if folder.endswith((f"/{STATE}", f"/{JOURNAL}")):
        return name.startswith(f".{_day_dir(day)}.json.")
    return True


def _relative(base: str, path: str) -> str:
    return path.removeprefix(base + "/")


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _file_key(call_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:40]
    return f"{safe}-{hashlib.sha1(call_id.encode()).hexdigest()[:10]}"
