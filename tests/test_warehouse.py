"""The warehouse: hive layout that every reader opens, atomic multi-table days, recovery from
killed writers, the day lock."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from callscope.core.errors import DayLocked, PartitionUnreadable
from callscope.storage.schemas import PARTITIONED_TABLES, TABLES, file_schema, to_table
from callscope.storage.warehouse import Warehouse

DAY = dt.date(2026, 11, 20)
DAY2 = dt.date(2026, 11, 21)
REPO = Path(__file__).resolve().parent.parent


def call_row(call_id, status="ok", day=DAY, **extra):
    return {"call_id": call_id, "date": day, "status": status, "settings_hash": "h1", **extra}


def segment_rows(call_id, n, day=DAY):
    return [
        {
            "call_id": call_id,
            "date": day,
            "idx": i,
            "start_s": float(i),
            "end_s": i + 0.5,
            "speaker": "agent",
            "text": f"第{i}句",
            "words": [{"word": "第", "start": float(i), "end": i + 0.2, "prob": 0.9}],
        }
        for i in range(n)
    ]


def minimal_rows(table: str, day: dt.date, n: int) -> pa.Table:
    """n rows of `table` with every non-null column filled."""
    schema = TABLES[table]
    values = {
        pa.string(): lambda i: f"{table}-{i}",
        pa.date32(): lambda i: day,
        pa.int32(): lambda i: i,
    }
    rows = []
    for i in range(n):
        row = {}
        for field in schema:
            if not field.nullable:
                row[field.name] = values[field.type](i)
        rows.append(row)
    return to_table(table, rows)


def test_files_hold_no_date_and_reads_give_it_back(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a", duration_s=3.5), segment_rows("a", 2))
    assert wh.commit_day(DAY) == 1
    stored = pq.read_schema(tmp_path / "calls" / "date=2026-11-20" / "part-0.parquet")
    assert "date" not in stored.names and stored.names == file_schema("calls").names
    calls = wh.read("calls", DAY)
    assert calls.schema.names == TABLES["calls"].names
    assert calls["date"].type == pa.date32() and calls["date"].to_pylist() == [DAY]
    segments = wh.read("segments", DAY, columns=["text", "date"])
    assert segments.column_names == ["text", "date"] and segments["text"][1].as_py() == "第1句"


@pytest.mark.parametrize("table", PARTITIONED_TABLES)
def test_every_table_opens_with_the_usual_readers(tmp_path, table):
    wh = Warehouse(tmp_path)
    wh.replace_day(table, DAY, minimal_rows(table, DAY, 3))
    wh.replace_day(table, DAY2, minimal_rows(table, DAY2, 2))
    folder = tmp_path / table
    frame = pd.read_parquet(folder)
    assert len(frame) == 5 and sorted(set(frame["date"].astype(str))) == [
        DAY.isoformat(),
        DAY2.isoformat(),
    ]
    dataset = ds.dataset(folder, format="parquet", partitioning="hive")
    assert dataset.to_table().num_rows == 5
    assert pl.read_parquet(folder, hive_partitioning=True).height == 5
    lazy = pl.scan_parquet(f"{folder}/**/*.parquet", hive_partitioning=True)
    assert lazy.select(pl.len()).collect().item() == 5
    query = f"SELECT date, count(*) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true) GROUP BY date ORDER BY date"
    assert [n for _, n in duckdb.sql(query).fetchall()] == [3, 2]
    assert wh.read_range(table)["date"].to_pylist() == [DAY] * 3 + [DAY2] * 2


def test_old_files_with_a_date_column_still_read(tmp_path):
    folder = tmp_path / "calls" / "date=2026-11-20"
    folder.mkdir(parents=True)
    pq.write_table(to_table("calls", [call_row("old")]), folder / "part-0.parquet")
    assert Warehouse(tmp_path).read("calls", DAY)["call_id"].to_pylist() == ["old"]


def test_restaging_a_call_replaces_its_rows(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a"), segment_rows("a", 3))
    wh.stage_call(DAY, call_row("b"), segment_rows("b", 1))
    wh.commit_day(DAY)
    wh.stage_call(DAY, call_row("a", settings_hash="h2"), segment_rows("a", 2))
    wh.commit_day(DAY)
    calls = wh.read("calls", DAY)
    assert sorted(calls["call_id"].to_pylist()) == ["a", "b"]
    assert wh.read("segments", DAY).num_rows == 3
    assert wh.done_calls(DAY)["a"]["settings_hash"] == "h2"


def test_a_commit_of_many_batches_keeps_each_calls_latest_rows_of_every_table(tmp_path):
    wh = Warehouse(tmp_path)
    early = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)

    def batch(ids, at, hits=True):
        calls = [(call_row(c, processed_at=at), segment_rows(c, 2)) for c in ids]
        extra = {"keyword_hits": [_hit(c, at) for c in ids]} if hits else None
        wh.stage_calls(DAY, calls, extra)

    for n in range(6):
        batch([f"c{n}-{k}" for k in range(3)], early, hits=n != 4)
    batch(["c2-1", "c5-0"], early + dt.timedelta(minutes=5))  # a retried part's batch
    assert wh.commit_day(DAY) == 18
    hits = {row["call_id"]: row["category"] for row in wh.read("keyword_hits", DAY).to_pylist()}
    assert len(hits) == 15 and not any(c.startswith("c4-") for c in hits)
    assert hits["c2-1"] == hits["c5-0"] == "01:05" and hits["c2-0"] == "01:00"
    segments = wh.read("segments", DAY)
    assert segments.num_rows == 36
    assert sorted(wh.read("calls", DAY)["call_id"].to_pylist()) == sorted(
        f"c{n}-{k}" for n in range(6) for k in range(3)
    )


def test_a_call_staged_by_an_older_version_without_todays_columns_still_commits(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("new"), segment_rows("new", 1))
    folder = tmp_path / "_staging" / f"date={DAY}"
    old = pa.table({"call_id": ["old"], "date": [DAY], "status": ["ok"]})
    pq.write_table(old, folder / "batch-0-old.calls.parquet")
    pq.write_table(
        to_table("segments", segment_rows("old", 2)), folder / "batch-0-old.segments.parquet"
    )
    assert wh.commit_day(DAY) == 2
    calls = {row["call_id"]: row for row in wh.read("calls", DAY).to_pylist()}
    assert calls["old"]["settings_hash"] is None and calls["new"]["settings_hash"] == "h1"
    assert wh.read("segments", DAY).num_rows == 3


def _hit(call_id: str, at: dt.datetime) -> dict:
    row = minimal_rows("keyword_hits", DAY, 1).to_pylist()[0]
    return {**row, "call_id": call_id, "category": at.strftime("%H:%M")}


def test_staged_but_uncommitted_calls_count_as_done(tmp_path):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("a", audio_sha256="x"), [])
    assert wh.done_calls(DAY)["a"]["audio_sha256"] == "x"
    assert wh.read("calls", DAY).num_rows == 0 and wh.days() == []


def test_versions_change_with_each_write(tmp_path):
    wh = Warehouse(tmp_path)
    assert wh.version("calls", DAY) is None and not wh.exists("calls", DAY)
    wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
    first = wh.version("calls", DAY)
    wh.replace_day("calls", DAY, to_table("calls", [call_row("a"), call_row("b")]))
    assert first and wh.version("calls", DAY) not in (None, first)
    assert wh.days() == [DAY]


def test_a_corrupt_partition_is_one_clear_error(tmp_path):
    wh = Warehouse(tmp_path)
    wh.replace_day("segments", DAY, to_table("segments", segment_rows("a", 2)))
    part = tmp_path / "segments" / "date=2026-11-20" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:40])
    with pytest.raises(PartitionUnreadable) as caught:
        wh.read("segments", DAY)
    assert caught.value.table == "segments" and caught.value.day == DAY
    assert str(part) in str(caught.value) and "restore it" in str(caught.value)
    assert str(tmp_path) not in caught.value.public_message


# killed writers: a real process is killed at a chosen rename of a two-table commit ---------------
KILLER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from callscope.storage.warehouse import Warehouse
    from tests.test_warehouse import call_row, segment_rows

    root, kill_at = sys.argv[1], int(sys.argv[2])
    day = dt.date(2026, 11, 20)
    wh = Warehouse(root)
    wh.stage_call(day, call_row("new"), segment_rows("new", 4))

    class KillOnMove:
        def __init__(self, fs):
            self.fs, self.moves = fs, 0

        def __getattr__(self, name):
            return getattr(self.fs, name)

        def move(self, src, dest):
            if src.endswith(".tmp") and "/_staging/" not in src:
                self.moves += 1
                if self.moves == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return self.fs.move(src, dest)

    wh.fs = KillOnMove(wh.fs)
    wh.commit_day(day)
    """
)


def _killed_commit(root: Path, kill_at: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(root), str(kill_at)], env=env, cwd=REPO, timeout=120
    )
    return done.returncode


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("kill_at", "visible_after_kill"),
    [(1, ["old"]), (2, ["new", "old"]), (3, ["new", "old"])],
    ids=["before-the-journal", "after-the-journal", "between-the-renames"],
)
def test_a_commit_killed_midway_is_never_half_visible(tmp_path, kill_at, visible_after_kill):
    wh = Warehouse(tmp_path)
    wh.stage_call(DAY, call_row("old"), segment_rows("old", 2))
    wh.commit_day(DAY)
    assert _killed_commit(tmp_path, kill_at) == -signal.SIGKILL
    assert _leftovers(tmp_path)  # the killed writer left its temporary files
    calls = sorted(wh.read("calls", DAY)["call_id"].to_pylist())
    segment_calls = sorted(set(wh.read("segments", DAY)["call_id"].to_pylist()))
    assert calls == segment_calls == visible_after_kill  # both tables from one state
    wh.commit_day(DAY)  # the rerun: recovers, then commits the still-staged call
    assert sorted(wh.read("calls", DAY)["call_id"].to_pylist()) == ["new", "old"]
    assert wh.read("segments", DAY).num_rows == 6
    assert _leftovers(tmp_path) == []
    assert not list((tmp_path / "_journal").glob("*"))
    assert pd.read_parquet(tmp_path / "segments").shape[0] == 6


# the day lock --------------------------------------------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys, time
    from callscope.storage.warehouse import Warehouse

    wh = Warehouse(sys.argv[1])
    with wh.lock_day(dt.date(2026, 11, 20), "a test night"):
        print("held", flush=True)
        if sys.argv[2] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold(root: Path, how: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), how],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_waits_then_names_the_holder(tmp_path):
    holder = _hold(tmp_path, "30")
    try:
        wh = Warehouse(tmp_path, lock_wait_s=0.5)
        with pytest.raises(DayLocked) as caught:
            wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and "a test night" in message
        assert "since" in message and os.uname().nodename in message
        assert not wh.exists("calls", DAY)
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_writer_goes_on_when_the_holder_finishes(tmp_path):
    holder = _hold(tmp_path, "1")
    wh = Warehouse(tmp_path, lock_wait_s=30)
    wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
    assert holder.wait(timeout=30) == 0 and wh.read("calls", DAY).num_rows == 1


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    holder = _hold(tmp_path, "die")
    holder.wait(timeout=30)
    lock = tmp_path / "_locks" / "date=2026-11-20.lock"
    assert json.loads(lock.read_text())["pid"] == holder.pid
    wh = Warehouse(tmp_path, lock_wait_s=0)
    wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
    assert not lock.exists() and wh.read("calls", DAY).num_rows == 1


def test_a_lock_not_touched_for_too_long_is_taken_over(tmp_path):
    lock = tmp_path / "_locks" / "date=2026-11-20.lock"
    lock.parent.mkdir(parents=True)
    holder = {"host": "other-host", "pid": 1, "purpose": "nightly", "since": "x", "token": "t"}
    lock.write_text(json.dumps(holder))
    wh = Warehouse(tmp_path, lock_wait_s=0, lock_stale_after_s=60)
    with pytest.raises(DayLocked, match="nightly on other-host"):
        wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
    old = lock.stat().st_mtime - 120
    os.utime(lock, (old, old))
    wh.replace_day("calls", DAY, to_table("calls", [call_row("a")]))
    assert wh.read("calls", DAY).num_rows == 1
