"""The marketing hand-off: one folder per night, written whole or not at all.

`<handoff>/<YYYY-MM-DD>/` holds
- `incidents.parquet`: the day's topics and categories with counts, baseline and score;
- `calls.parquet`: one row per analysed call (queue, categories, sentiment, the redacted issue
  statement and its topic), without audio paths, agent ids or transcripts;
- `summary.md` and `chart.png`: what stands out, readable by anyone;
- `manifest.json`: counts and a SHA-256 per file, written last.

The folder is built under a temporary name beside the target and renamed into place (an older
bundle is moved aside first), so a reader finds a complete bundle or none, never a half-written
one; `manifest.json` is the last file written. Every text
in the bundle is checked for personal data once more before it is written; anything found is
redacted and logged (the sources are redacted already, so this is a second line of defence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger
from callscope.incidents.report import draw_chart, markdown, public_rows
from callscope.privacy.redact import find_pii, redact
from callscope.storage.schemas import HANDOFF_CALL_FIELDS, HANDOFF_CALLS, HANDOFF_INCIDENTS
from callscope.storage.warehouse import Warehouse, write_parquet_file

logger = get_logger(__name__)

FILES = ("incidents.parquet", "calls.parquet", "summary.md", "chart.png", "manifest.json")


class HandoffError(CallscopeError):
    """The hand-off folder cannot be written."""


@dataclass
class Handoff:
    folder: Path
    incidents: int
    spikes: int
    calls: int
    pii_redacted: int  # texts that still held personal data and were redacted here


class _Scrubber:
    """Redacts any personal data left in a text, counting the texts it had to change."""

    def __init__(self) -> None:
        self.redacted = 0

    def __call__(self, text: str | None) -> str | None:
        if not text or not find_pii(text):
            return text
        self.redacted += 1
        return redact(text)[0]


def _incident_table(store: Warehouse, day: dt.date, clean: _Scrubber) -> pa.Table:
    rows = store.read("incidents", day).to_pylist()
    for row in rows:
        row["label"] = clean(row["label"])
        row["terms"] = [clean(t) for t in row["terms"] or []]
        row["variants"] = [
            {"term": clean(v["term"]), "heard": [clean(h) for h in v["heard"] or []]}
            for v in row.get("variants") or []
        ]
        for example in row["examples"] or []:
            example["text"] = clean(example["text"])
        row.pop("centroid", None)
    return pa.Table.from_pylist(rows, schema=HANDOFF_INCIDENTS)


def _calls_table(store: Warehouse, day: dt.date, incidents: pa.Table, clean: _Scrubber):
    issues = {r["call_id"]: r for r in store.read("call_issues", day).to_pylist()}
    label_of: dict[str, str] = {}
    for row in incidents.to_pylist():
        if row["kind"] == "topic":
            label_of.update(dict.fromkeys(row["call_ids"] or [], row["label"]))
    rows = []
    for call in store.read("calls", day).select(list(HANDOFF_CALL_FIELDS) + ["status"]).to_pylist():
        if call.pop("status") != "ok":
            continue
        issue = issues.get(call["call_id"], {})
        rows.append(
            {
                **call,
                "statement": clean(issue.get("statement")),
                "topic_id": issue.get("topic_id"),
                "incident": label_of.get(call["call_id"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=HANDOFF_CALLS)


def write_handoff(store: Warehouse, day: dt.date, root: Path) -> Handoff:
    """Write the day's bundle under `root/<day>/`, replacing an earlier one as a whole."""
    root = Path(root)
    target = root / day.isoformat()
    _remove_leftovers(root, day)
    staging = root / f".{day.isoformat()}.{uuid.uuid4().hex[:8]}.tmp"
    clean = _Scrubber()
    try:
        staging.mkdir(parents=True)
        incidents = _incident_table(store, day, clean)
        calls = _calls_table(store, day, incidents, clean)
        write_parquet_file(incidents, staging / "incidents.parquet")
        write_parquet_file(calls, staging / "calls.parquet")
        rows = public_rows(incidents)
        chart = draw_chart(day, rows, staging / "chart.png")
        text = markdown(day, rows, calls.num_rows, chart.name if chart else None)
        # built from the fields cleaned above; scrubbing the whole document would read a call
        # id or a table's numbers after a word like 电话 as a phone number
        (staging / "summary.md").write_text(text, encoding="utf-8")
        _manifest(staging, day, incidents, calls, clean.redacted)
        _swap(staging, target)
    except OSError as exc:
        raise HandoffError(
            f"cannot write the hand-off for {day} under {root} ({exc}); check that the folder "
            "is writable and has space, then run `callscope incidents --date "
            f"{day} --rebuild`"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if clean.redacted:
        logger.warning(
            "hand-off %s: %d texts still held personal data and were redacted", day, clean.redacted
        )
    spikes = sum(bool(v) for v in incidents.column("is_spike").to_pylist())
    logger.info(
        "hand-off %s written to %s (%d incidents, %d spikes)",
        day,
        target,
        incidents.num_rows,
        spikes,
    )
    return Handoff(target, incidents.num_rows, spikes, calls.num_rows, clean.redacted)


def _manifest(folder: Path, day: dt.date, incidents: pa.Table, calls: pa.Table, redacted: int):
    files = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }
    manifest = {
        "date": day.isoformat(),
        "written_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "calls": calls.num_rows,
        "incidents": incidents.num_rows,
        "spikes": sum(bool(v) for v in incidents.column("is_spike").to_pylist()),
        "late_redactions": redacted,
        "files": files,
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in files | {"manifest.json": ""}:
        with (folder / name).open("rb") as handle:
            os.fsync(handle.fileno())


def _swap(staging: Path, target: Path) -> None:
    """Put `staging` where `target` is; an existing bundle is moved aside first, then removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(root: Path, day: dt.date) -> None:
    """Bundles a killed run left half written (.tmp) or half swapped (.old)."""
    if not root.is_dir():
        return
    for path in root.glob(f".{day.isoformat()}.*"):
        if path.suffix in (".tmp", ".old") and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            logger.warning("hand-off %s: removed %s left by a killed run", day, path.name)


def read_handoff(root: Path, day: dt.date) -> dict | None:
    """The day's manifest, or None when no complete bundle is there."""
    path = Path(root) / day.isoformat() / "manifest.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
