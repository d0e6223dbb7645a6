"""Own Parquet commit protocol against Delta Lake (delta-rs) for a segments-like table, in one run.

    python bench/table_format.py --days 30 --rows 20000

Run it in an environment that has `deltalake`, `polars`, `duckdb` and `pandas` next to
`pyarrow` (deltalake is not a project dependency; without these the script says so and exits 0).

A synthetic segments table (call_id, idx, start_s, end_s, speaker, ~30 characters of Chinese-like
text, sentiment and a list<struct> words column) is written, for --days days of --rows rows, as:

- A, own protocol: `<t>/segments/date=D/part-0.parquet`, pyarrow + zstd, written to a hidden temp
  file next to it, fsync, os.replace (what the warehouse does);
- B, Delta Lake: `deltalake.write_deltalake(..., partition_by=["date"])` (zstd too), one day
  replaced with `mode="overwrite", predicate="date = 'D'"`.

It measures the initial write of all days, replacing one day 5 times (median), reading one day and
the whole table (median of 3, each through the layout's own API), the rows that plain-Parquet
readers (pandas, pyarrow.dataset, DuckDB, Polars, all with hive partitioning, reading one column)
see after the replacements, for B before and after VACUUM, the disk bytes of both layouts and the
installed size of the deltalake package. A last probe checks the same readers on A when the files
also hold a `date` column of their own. Ratios are B / A.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

OPTIONAL = ("pyarrow", "numpy", "pandas", "polars", "duckdb", "deltalake")
FIRST_DAY = dt.date(2026, 11, 1)
PART_NAME = "part-0.parquet"
CALLS_PER_DAY = 200
VOCAB_SIZE = 800
REPLACES = 5
READS = 3


# synthetic data --------------------------------------------------------------------------------
def make_vocab(rng) -> list[str]:
    """Two-character "words" from the CJK block; drawn with Zipf-like weights below."""
    import numpy as np

    codes = rng.integers(0x4E00, 0x9FA6, size=(VOCAB_SIZE, 2), dtype=np.uint32)
    return codes.view("<U2").ravel().tolist()


def make_day(day: dt.date, rows: int, vocab: list[str], seed: int):
    """One day of segments: ~CALLS_PER_DAY calls, 8-15 words (16-30 characters) a segment."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    per_call = -(-rows // CALLS_PER_DAY)
    row = np.arange(rows)
    idx = (row % per_call).astype(np.int32)
    call_ids = [
        f"{day:%Y%m%d}-{n:04d}-{uuid.UUID(int=int(rng.integers(2**62))).hex[:12]}"
        for n in range(CALLS_PER_DAY)
    ]
    start = idx * 4.0 + rng.uniform(0.0, 1.0, rows)
    end = start + rng.uniform(0.8, 3.5, rows)

    counts = rng.integers(8, 16, rows)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    ids = rng.choice(len(vocab), size=int(offsets[-1]), p=weights / weights.sum())
    flat = [vocab[i] for i in ids]
    texts = ["".join(flat[offsets[i] : offsets[i + 1]]) for i in range(rows)]
    word_start = np.repeat(start, counts) + rng.uniform(0.0, 0.5, len(flat))
    words = pa.StructArray.from_arrays(
        [
            pa.array(flat, pa.string()),
            pa.array(word_start, pa.float32()),
            pa.array(word_start + 0.3, pa.float32()),
            pa.array(rng.uniform(0.3, 1.0, len(flat)), pa.float32()),
        ],
        names=["word", "start", "end", "prob"],
    )
    return pa.table(
        {
            "call_id": pa.array([call_ids[i] for i in row // per_call], pa.string()),
            "idx": idx,
            "start_s": start,
            "end_s": end,
            "speaker": pa.array(np.where(idx % 2 == 0, "agent", "customer"), pa.string()),
            "text": pa.array(texts, pa.string()),
            "sentiment": pa.array(rng.uniform(-5.0, 5.0, rows), pa.float32()),
            "words": pa.ListArray.from_arrays(pa.array(offsets), words),
        }
    )


def build_days(n_days: int, rows: int) -> dict[dt.date, object]:
    import numpy as np

    vocab = make_vocab(np.random.default_rng(0))
    days = [FIRST_DAY + dt.timedelta(days=i) for i in range(n_days)]
    return {day: make_day(day, rows, vocab, seed=i + 1) for i, day in enumerate(days)}


def rescored(table, round_no: int):
    """The same day again with new sentiment, as a later step (categories, emotion) writes it."""
    import numpy as np
    import pyarrow as pa

    values = np.random.default_rng(1000 + round_no).uniform(-5.0, 5.0, table.num_rows)
    column = table.schema.get_field_index("sentiment")
    return table.set_column(column, "sentiment", pa.array(values, pa.float32()))


def with_date(table, day: dt.date):
    import pyarrow as pa

    return table.append_column("date", pa.array([day] * table.num_rows, pa.date32()))


# layout A: own protocol ------------------------------------------------------------------------
def own_file(root: Path, day: dt.date) -> Path:
    return root / f"date={day.isoformat()}" / PART_NAME


def own_write_day(root: Path, day: dt.date, table) -> None:
    """Hidden temp file next to the target, fsync, os.replace: readers see old or new."""
    import pyarrow.parquet as pq

    path = own_file(root, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def own_read_day(root: Path, day: dt.date):
    import pyarrow.parquet as pq

    return pq.read_table(own_file(root, day))


def own_read_all(root: Path, days: list[dt.date]):
    import pyarrow as pa

    return pa.concat_tables([own_read_day(root, day) for day in days])


# layout B: Delta Lake --------------------------------------------------------------------------
def delta_properties():
    from deltalake import WriterProperties

    return WriterProperties(compression="ZSTD")


def delta_write_all(path: Path, tables: dict[dt.date, object]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    data = pa.concat_tables([with_date(table, day) for day, table in tables.items()])
    write_deltalake(
        str(path), data, partition_by=["date"], mode="error", writer_properties=delta_properties()
    )


def delta_replace_day(path: Path, day: dt.date, table) -> None:
    from deltalake import write_deltalake

    write_deltalake(
        str(path),
        with_date(table, day),
        mode="overwrite",
        predicate=f"date = '{day.isoformat()}'",
        writer_properties=delta_properties(),
    )


def delta_read_day(path: Path, day: dt.date):
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pyarrow_table(filters=[("date", "=", day)])


def delta_read_all(path: Path):
    from deltalake import DeltaTable

    return DeltaTable(str(path)).to_pyarrow_table()


def delta_vacuum(path: Path) -> int:
    from deltalake import DeltaTable

    removed = DeltaTable(str(path)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )
    return len(removed)


# measuring -------------------------------------------------------------------------------------
def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_seconds(action: Callable[[int], object], times: int) -> float:
    return statistics.median(seconds(lambda n=n: action(n)) for n in range(times))


def disk_usage(root: Path) -> tuple[int, int]:
    """Bytes and number of files under root (file sizes, every file, the Delta log included)."""
    files = [path for path in root.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files), len(files)


def reader_counts(folder: Path) -> dict[str, int | str]:
    """Rows each plain-Parquet reader sees in a hive-partitioned folder (or its error)."""
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    files = f"{folder}/**/*.parquet"
    readers: dict[str, Callable[[], int]] = {
        "pandas.read_parquet(folder)": lambda: len(pd.read_parquet(folder, columns=["idx"])),
        "pyarrow.dataset(folder, hive)": lambda: ds.dataset(
            folder, partitioning="hive"
        ).count_rows(),
        "duckdb read_parquet(glob, hive)": lambda: duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{files}', hive_partitioning=true)"
        ).fetchall()[0][0],
        "polars.read_parquet(folder, hive)": lambda: (
            pl.read_parquet(folder, columns=["idx"], hive_partitioning=True).height
        ),
        "polars.scan_parquet(glob, hive)": lambda: (
            pl.scan_parquet(files, hive_partitioning=True).select(pl.len()).collect().item()
        ),
    }
    return {name: attempt(read) for name, read in readers.items()}


def attempt(read: Callable[[], int]) -> int | str:
    try:
        return int(read())
    except Exception as exc:  # noqa: BLE001 - a reader that fails is a result here
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:110]}"


def date_column_probe(root: Path, tables: dict[dt.date, object]) -> dict[str, int | str]:
    """Layout A on two days whose files also carry a date32 `date` column."""
    for day, table in list(tables.items())[:2]:
        own_write_day(root, day, with_date(table, day))
    return reader_counts(root)


def package_size(name: str) -> tuple[int, str]:
    """Bytes of an installed distribution's files, and its version."""
    dist = importlib.metadata.distribution(name)
    paths = (Path(str(dist.locate_file(entry))) for entry in dist.files or [])
    return sum(path.stat().st_size for path in paths if path.is_file()), dist.version


def dependency_sizes(name: str) -> list[tuple[str, int, str]]:
    """The distribution and its direct requirements (those installed), with their sizes."""
    names = [name]
    for spec in importlib.metadata.requires(name) or []:
        if "extra ==" not in spec:  # optional extras are not installed by a plain install
            names.append(re.split(r"[\s;<>=!~\[(]", spec, maxsplit=1)[0])
    found = []
    for dist_name in names:
        try:
            size, version = package_size(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append((dist_name, size, version))
    return found


# report ----------------------------------------------------------------------------------------
def ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}" if a else "-"


def print_timings(rows: list[tuple[str, float, float]]) -> None:
    print(f"{'measure':<44}{'A own':>12}{'B delta':>12}{'B/A':>8}")
    for label, a, b in rows:
        print(f"{label:<44}{a:>12.3f}{b:>12.3f}{ratio(a, b):>8}")


def print_disk(own: tuple[int, int], delta: tuple[int, int], vacuumed: tuple[int, int]) -> None:
    print(f"\n{'disk after the replacements':<44}{'MB':>12}{'files':>8}{'B/A':>8}")
    for label, (size, files) in (
        ("A own", own),
        ("B delta, before vacuum", delta),
        ("B delta, after vacuum", vacuumed),
    ):
        print(f"{label:<44}{size / 1e6:>12.2f}{files:>8}{ratio(own[0], size):>8}")


def print_counts(truth: int, columns: dict[str, dict[str, int | str]]) -> None:
    print(f"\nrows seen by plain-Parquet readers (true count {truth:,}; ! = differs)")
    print(f"{'reader':<36}" + "".join(f"{name:>18}" for name in columns))
    for reader in next(iter(columns.values())):
        cells = [columns[name][reader] for name in columns]
        print(f"{reader:<36}" + "".join(f"{cell_text(cell, truth):>18}" for cell in cells))
    for name, counts in columns.items():
        for reader, cell in counts.items():
            if isinstance(cell, str):
                print(f"  {name} / {reader}: {cell}")


def cell_text(cell: int | str, truth: int) -> str:
    if isinstance(cell, str):
        return "ERROR"
    return f"{cell:,}" + ("" if cell == truth else " !")


def print_probe(counts: dict[str, int | str], truth: int) -> None:
    print(f"\nA with a date32 `date` column inside the files too (2 days, true {truth:,})")
    for reader, cell in counts.items():
        print(f"  {reader:<36}{cell if isinstance(cell, str) else format(cell, ',')}")


def print_package() -> None:
    sizes = dependency_sizes("deltalake")
    print("\ninstalled size (site-packages files)")
    for name, size, version in sizes:
        print(f"  {name + ' ' + version:<42}{size / 1e6:>10.1f} MB")
    if len(sizes) > 1:
        print(f"  {'together':<42}{sum(size for _, size, _ in sizes) / 1e6:>10.1f} MB")


# main ------------------------------------------------------------------------------------------
def missing_modules() -> list[str]:
    return [name for name in OPTIONAL if importlib.util.find_spec(name) is None]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="days of data (default 30)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows a day (default 20000)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.rows < CALLS_PER_DAY:
        parser.error(f"--days must be >= 1 and --rows >= {CALLS_PER_DAY}")
    return args


def run(work: Path, n_days: int, rows: int) -> None:
    started = time.perf_counter()
    tables = build_days(n_days, rows)
    days = list(tables)
    target = days[min(19, n_days - 1)]
    truth = n_days * rows
    own, delta = work / "own" / "segments", work / "delta" / "segments"
    print(
        f"{n_days} days x {rows:,} rows, replaced day {target}; data built in "
        f"{time.perf_counter() - started:.1f} s\n"
    )

    write = (
        seconds(lambda: [own_write_day(own, day, table) for day, table in tables.items()]),
        seconds(lambda: delta_write_all(delta, tables)),
    )
    replace = (
        median_seconds(lambda n: own_write_day(own, target, rescored(tables[target], n)), REPLACES),
        median_seconds(
            lambda n: delta_replace_day(delta, target, rescored(tables[target], n)), REPLACES
        ),
    )
    check_rows(own_read_day(own, target), delta_read_day(delta, target), rows)
    read_day = (
        median_seconds(lambda n: own_read_day(own, target), READS),
        median_seconds(lambda n: delta_read_day(delta, target), READS),
    )
    read_all = (
        median_seconds(lambda n: own_read_all(own, days), READS),
        median_seconds(lambda n: delta_read_all(delta), READS),
    )
    own_disk, delta_disk = disk_usage(own), disk_usage(delta)
    counts = {"A own": reader_counts(own), "B before vacuum": reader_counts(delta)}
    vacuum_started = time.perf_counter()
    removed = delta_vacuum(delta)
    vacuum_s = time.perf_counter() - vacuum_started
    counts["B after vacuum"] = reader_counts(delta)
    vacuumed = disk_usage(delta)

    print_timings(
        [
            (f"initial write, {n_days} days (s)", *write),
            (f"replace one day, median of {REPLACES} (s)", *replace),
            (f"read one day, median of {READS} (s)", *read_day),
            (f"read whole table, median of {READS} (s)", *read_all),
            (f"vacuum, B only, {removed} files removed (s)", 0.0, vacuum_s),
        ]
    )
    print_disk(own_disk, delta_disk, vacuumed)
    print_counts(truth, counts)
    print_probe(date_column_probe(work / "own_dated" / "segments", tables), 2 * rows)
    print_package()
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


def check_rows(own_day, delta_day, rows: int) -> None:
    if own_day.num_rows != rows or delta_day.num_rows != rows:
        raise SystemExit(
            f"one day read back {own_day.num_rows} / {delta_day.num_rows} rows, expected {rows}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_modules()
    if missing:
        print(
            f"skipped: {', '.join(missing)} not installed; this benchmark needs them next to "
            f"the project (pip install deltalake polars duckdb pandas in a separate venv)"
        )
        return 0
    for name in OPTIONAL:
        importlib.import_module(name)
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        run(Path(tempfile.mkdtemp(dir=args.dir)), args.days, args.rows)
        return 0
    with tempfile.TemporaryDirectory(prefix="table_format-") as work:
        run(Path(work), args.days, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
