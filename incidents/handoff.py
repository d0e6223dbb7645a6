"""The marketing hand-off: one folder per night, written whole or not at all.

`<handoff>/<YYYY-MM-DD>/` holds
- `incidents.parquet`: the day's topics and categories with counts, baseline and score, and
  how the summary tells them (incidents/stories.py: each story once, its facets under it, the
  emerging ones apart) with the figures to act on: first and last call, calls per hour, queue
  shares, directions, the rule of a category;
- `calls.parquet`: one row per analysed call (queue, categories, sentiment, the redacted issue
  statement and its topic), without audio paths, agent ids or transcripts;
- `summary.md` and `chart.png`: what stands out, a section per story, Chinese then English;
- `manifest.json`: counts and a SHA-256 per file, written last.

`<handoff>` is a folder or a URI (the `handoff` setting, default `<warehouse>/handoff`), opened
by core/location.py like the warehouse. Where the file system renames folders (a local or
mounted folder, HDFS), the bundle is built under a temporary name beside the target and renamed
into place (an older bundle is moved aside first), so a reader finds a complete bundle or none,
never a half-written one. On an object store (S3, GCS, Azure), which cannot rename a folder, the
older bundle's `manifest.json` is deleted first, then its other files, then the new files are
written and `manifest.json` last: a bundle is complete when its manifest is there, and the
manifest's SHA-256 of each file tells a reader that raced a rewrite. Every text
in the bundle is checked for personal data once more before it is written; anything found is
redacted and logged (the sources are redacted already, so this is a second line of defence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.fs as pafs
from callscope.core.config import IncidentSettings
from callscope.core.errors import CallscopeError
from callscope.core.location import is_uri, join, open_filesystem, shown
from callscope.core.logs import get_logger
from callscope.incidents.report import draw_chart, markdown, public_rows
from callscope.incidents.stories import Story, StorySettings, arrange, call_figures
from callscope.privacy.redact import redact, redact_for_marketing
from callscope.storage.schemas import HANDOFF_CALL_FIELDS, HANDOFF_CALLS, HANDOFF_INCIDENTS
from callscope.storage.warehouse import Warehouse, parquet_bytes, write_file

logger = get_logger(__name__)

FILES = ("incidents.parquet", "calls.parquet", "summary.md", "chart.png", "manifest.json")


class HandoffError(CallscopeError):
    """The hand-off folder cannot be written."""


@dataclass
class Handoff:
    folder: Path | str  # a local folder, or the bundle's URI on another file system
    incidents: int
    spikes: int
    calls: int
    pii_redacted: int  # texts that still held personal data and were redacted here
    stories: int = 0  # sections of summary.md: the unusual stories
    emerging: int = 0  # and the emerging ones


class _Scrubber:
    """Redacts any personal data left in a text, counting the texts it had to change. One
    call's own words (an issue statement, an example) also lose the places finer than a
    district and the words that look like a name that the night's rules keep
    (`redact_for_marketing`)."""

    def __init__(self) -> None:
        self.redacted = 0

    def __call__(self, text: str | None, own_words: bool = False) -> str | None:
        if not text:
            return text
        redacted = redact_for_marketing(text)[0] if own_words else redact(text)[0]
        if redacted != text:
            self.redacted += 1
        return redacted


def day_calls(store: Warehouse, day: dt.date) -> list[dict]:
    """The day's analysed calls, as the stories' figures need them."""
    columns = ["call_id", "status", "started_at", "queue", "direction"]
    return [c for c in store.read("calls", day).select(columns).to_pylist() if c["status"] == "ok"]


def _incident_rows(store: Warehouse, day: dt.date, clean: _Scrubber) -> list[dict]:
    rows = store.read("incidents", day).to_pylist()
    for row in rows:
        row["label"] = clean(row["label"])
        row["terms"] = [clean(t) for t in row["terms"] or []]
        row["variants"] = [
            {"term": clean(v["term"]), "heard": [clean(h) for h in v["heard"] or []]}
            for v in row.get("variants") or []
        ]
        for example in row["examples"] or []:
            example["text"] = clean(example["text"], own_words=True)
        row.pop("centroid", None)
    return rows


def _name_stories(rows: list[dict], stories: list[Story], names: dict[str, str | None]) -> None:
    """Each row's catalogue names: those among its terms, and for a section's incident those
    of its facets too (the launch phone named by the topics inside a pre-order story)."""
    for row in rows:
        row["catalogue_names"] = [t for t in row["terms"] or [] if t in names]
    for story in stories:
        found = story.row["catalogue_names"]
        for facet in story.facets:
            found += [n for n in facet.row["catalogue_names"] if n not in found]


def _calls_table(
    store: Warehouse, day: dt.date, incidents: pa.Table, stories: list[Story], clean: _Scrubber
):
    issues = {r["call_id"]: r for r in store.read("call_issues", day).to_pylist()}
    label_of: dict[str, str] = {}
    for row in incidents.to_pylist():
        if row["kind"] == "topic":
            label_of.update(dict.fromkeys(row["call_ids"] or [], row["label"]))
    story_of: dict[str, str] = {}
    for story in reversed(stories):  # a call in two sections counts for the first
        story_of.update(dict.fromkeys(story.row["call_ids"] or [], story.incident_id))
    rows = []
    for call in store.read("calls", day).select(list(HANDOFF_CALL_FIELDS) + ["status"]).to_pylist():
        if call.pop("status") != "ok":
            continue
        issue = issues.get(call["call_id"], {})
        rows.append(
            {
                **call,
                "statement": clean(issue.get("statement"), own_words=True),
                "topic_id": issue.get("topic_id"),
                "incident": label_of.get(call["call_id"]),
                "story_id": story_of.get(call["call_id"]),
            }
        )
    return pa.Table.from_pylist(rows, schema=HANDOFF_CALLS)


def write_handoff(
    store: Warehouse,
    day: dt.date,
    root: str | Path,
    filesystem: pafs.FileSystem | None = None,
    *,
    settings: IncidentSettings | None = None,
    rules: dict[str, str] | None = None,
    aspects: frozenset[str] = frozenset(),
    names: dict[str, str | None] | None = None,
    console_url: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> Handoff:
    """Write the day's bundle under `root/<day>/`, replacing an earlier one as a whole. `root`
    is a folder or a URI (the `handoff` setting), or with `filesystem` a path inside it.
    `rules`: each category's rule in words (keywords.rules.Category.describe); `aspects`: the
    categories that say how a call went (incidents/stories.py); `names`: the catalogue's
    names active that day, with their English names; `console_url`: the console's address
    (web.public_url), to link each example to its moment in the call; `timezone`: the call
    centre's, for the times of day."""
    fs, base = _open(root, filesystem)
    target = f"{base}/{day.isoformat()}"
    clean = _Scrubber()
    story_settings = StorySettings.from_settings(settings or IncidentSettings())
    try:
        analysed = day_calls(store, day)
        rows, stories = arrange(
            _incident_rows(store, day, clean), analysed, story_settings, timezone, aspects
        )
        for row in rows:
            row["rule"] = (rules or {}).get(row["category"]) if row["kind"] == "category" else None
        _name_stories(rows, stories, names or {})
        incidents = pa.Table.from_pylist(rows, schema=HANDOFF_INCIDENTS)
        calls = _calls_table(store, day, incidents, stories, clean)
        files = {
            "incidents.parquet": parquet_bytes(incidents),
            "calls.parquet": parquet_bytes(calls),
        }
        table_rows = public_rows(incidents)
        chart = _chart(day, table_rows)
        if chart is not None:
            files["chart.png"] = chart
        day_hours = call_figures(analysed, Counter(), ZoneInfo(timezone))["calls_by_hour"]
        text = markdown(
            day,
            stories,
            table_rows,
            calls.num_rows,
            "chart.png" if chart is not None else None,
            timezone,
            day_hours,
            names or {},
            console_url,
        )
        # built from the fields cleaned above; scrubbing the whole document would read a call
        # id or a table's numbers after a word like 电话 as a phone number
        files["summary.md"] = text.encode("utf-8")
        told = Counter(story.section for story in stories)
        files["manifest.json"] = _manifest(files, day, incidents, calls, clean.redacted, told)
        if _renames_folders(fs):
            _publish_renamed(fs, base, day, files)
        else:
            _publish_in_place(fs, target, files)
    except OSError as exc:
        raise HandoffError(
            f"cannot write the hand-off for {day} under {_shown(root, filesystem)} ({exc}); "
            "check that the folder is writable and has space, then run `callscope incidents "
            f"--date {day} --rebuild`"
        ) from exc
    if clean.redacted:
        logger.warning(
            "hand-off %s: %d texts still held personal data and were redacted", day, clean.redacted
        )
    spikes = sum(bool(v) for v in incidents.column("is_spike").to_pylist())
    folder = _folder(fs, root, target, day)
    logger.info(
        "hand-off %s written to %s (%d incidents, %d spikes)",
        day,
        folder,
        incidents.num_rows,
        spikes,
    )
    return Handoff(
        folder,
        incidents.num_rows,
        spikes,
        calls.num_rows,
        clean.redacted,
        told["story"],
        told["emerging"],
    )


def _open(root: str | Path, filesystem: pafs.FileSystem | None) -> tuple[pafs.FileSystem, str]:
    if filesystem is not None:
        return filesystem, str(root).rstrip("/")
    fs, path = open_filesystem(root, "handoff")
    if isinstance(fs, pafs.LocalFileSystem):
        path = str(Path(path).absolute())
    return fs, path


def _shown(root: str | Path, filesystem: pafs.FileSystem | None) -> str:
    return shown(root) if filesystem is None else str(root)


def _folder(fs: pafs.FileSystem, root: str | Path, target: str, day: dt.date) -> Path | str:
    """The bundle's folder as people are told it: a Path on a local disk, else its URI."""
    if isinstance(fs, pafs.LocalFileSystem):
        return Path(target) if is_uri(root) else Path(root) / day.isoformat()
    return shown(join(root, day.isoformat())) if is_uri(root) else target


def _chart(day: dt.date, rows: list[dict]) -> bytes | None:
    buffer = io.BytesIO()
    if draw_chart(day, rows, buffer) is None:
        return None
    return buffer.getvalue()


def _manifest(
    files: dict[str, bytes],
    day: dt.date,
    incidents: pa.Table,
    calls: pa.Table,
    redacted: int,
    told: Counter,
) -> bytes:
    manifest = {
        "date": day.isoformat(),
        "written_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "calls": calls.num_rows,
        "incidents": incidents.num_rows,
        "spikes": sum(bool(v) for v in incidents.column("is_spike").to_pylist()),
        "stories": told["story"],
        "emerging": told["emerging"],
        "late_redactions": redacted,
        "files": {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)},
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _renames_folders(fs: pafs.FileSystem) -> bool:
    """Whether `fs` renames a folder in one step (a local or mounted disk, HDFS), rather than
    copying its objects one by one (S3, GCS, Azure) or not at all."""
    while isinstance(fs, pafs.SubTreeFileSystem):
        fs = fs.base_fs
    return isinstance(fs, pafs.LocalFileSystem) or fs.type_name == "hdfs"


def _publish_renamed(fs: pafs.FileSystem, base: str, day: dt.date, files: dict[str, bytes]):
    """Write the files (manifest.json last) in a folder beside the target, then swap it in."""
    _remove_leftovers(fs, base, day)
    staging = f"{base}/.{day.isoformat()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fs.create_dir(staging, recursive=True)
        for name, data in files.items():  # durably, on a local disk
            write_file(fs, f"{staging}/{name}", data)
        _swap(fs, staging, f"{base}/{day.isoformat()}")
    finally:
        _delete_dir(fs, staging)


def _publish_in_place(fs: pafs.FileSystem, target: str, files: dict[str, bytes]):
    """An object store: the old manifest goes first (the old bundle is no longer complete),
    then the old files, then the new files with the manifest last."""
    manifest = f"{target}/manifest.json"
    if _kind(fs, manifest) == pafs.FileType.File:
        fs.delete_file(manifest)
    if _kind(fs, target) == pafs.FileType.Directory:
        fs.delete_dir_contents(target)
    fs.create_dir(target, recursive=True)
    for name, data in files.items():
        with fs.open_output_stream(f"{target}/{name}") as out:
            out.write(data)


def _swap(fs: pafs.FileSystem, staging: str, target: str) -> None:
    """Put `staging` where `target` is; an existing bundle is moved aside first, then removed."""
    old = None
    if _kind(fs, target) != pafs.FileType.NotFound:
        folder, _, name = target.rpartition("/")
        old = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.old"
        fs.move(target, old)
    fs.move(staging, target)
    if old is not None:
        _delete_dir(fs, old)


def _remove_leftovers(fs: pafs.FileSystem, base: str, day: dt.date) -> None:
    """Bundles a killed run left half written (.tmp) or half swapped (.old)."""
    if _kind(fs, base) != pafs.FileType.Directory:
        return
    prefix = f".{day.isoformat()}."
    for info in fs.get_file_info(pafs.FileSelector(base)):
        name = info.base_name
        if (
            name.startswith(prefix)
            and name.endswith((".tmp", ".old"))
            and info.type == pafs.FileType.Directory
        ):
            _delete_dir(fs, info.path)
            logger.warning("hand-off %s: removed %s left by a killed run", day, name)


def read_handoff(
    root: str | Path, day: dt.date, filesystem: pafs.FileSystem | None = None
) -> dict | None:
    """The day's manifest, or None when no complete bundle is there."""
    fs, base = _open(root, filesystem)
    path = f"{base}/{day.isoformat()}/manifest.json"
    if _kind(fs, path) != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def handoff_folder(
    root: str | Path, day: dt.date, filesystem: pafs.FileSystem | None = None
) -> Path | str | None:
    """Where the day's complete bundle is (named as write_handoff names it), or None."""
    fs, base = _open(root, filesystem)
    target = f"{base}/{day.isoformat()}"
    if _kind(fs, f"{target}/manifest.json") != pafs.FileType.File:
        return None
    return _folder(fs, root, target, day)


def _kind(fs: pafs.FileSystem, path: str) -> pafs.FileType:
    return fs.get_file_info(path).type


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_dir(path)
    except (FileNotFoundError, OSError):
        pass
