"""Where a night's recordings come from: `<root>/<YYYY-MM-DD>/<call_id>.<ext>` + manifest.csv.

`RecordingSource` is the interface; `LocalRecordingSource` reads a local folder. An object
store (fsspec) implements the same two methods.

Every entry of a day folder is a call, an error row or a logged ignore (hidden names, metadata
sidecars, folders). Only regular files are read, and never through a symbolic link: a link is
an error row whose target is not opened.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote_from_bytes, unquote_to_bytes
from zoneinfo import ZoneInfo

from callscope.core.errors import BadRecordingError, CallscopeError, TransientError
from callscope.core.logs import get_logger
from callscope.storage.schemas import CHANNEL_LAYOUTS

logger = get_logger(__name__)

MANIFEST_COLUMNS = (
    "call_id",
    "started_at",
    "agent_id",
    "queue",
    "direction",
    "customer_tier",
    "channel_layout",
)
# metadata files that recorders and exporters leave beside the audio: not calls, not errors
SIDECAR_EXTENSIONS = ("json", "xml", "md5", "sha256")
TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ESTALE}
NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
IGNORED_HIDDEN = "hidden files (names starting with a dot)"
IGNORED_SIDECAR = f"metadata sidecars (.{', .'.join(SIDECAR_EXTENSIONS)})"
IGNORED_FOLDER = "folders"
IGNORED_SHOWN = 10  # names listed in a day's ignore line
FILE_URI = "file://"
_UNDECODED = re.compile(r"[\udc80-\udcff]")  # bytes of a name that were not UTF-8


class SourceError(CallscopeError):
    """The night's recordings cannot be listed at all (missing folder, unreadable manifest)."""


@dataclass(frozen=True)
class CallMeta:
    started_at: dt.datetime | None = None
    agent_id: str | None = None
    queue: str | None = None
    direction: str | None = None
    customer_tier: str | None = None
    channel_layout: str | None = None


@dataclass(frozen=True)
class Recording:
    call_id: str
    date: dt.date
    uri: str | None
    meta: CallMeta = field(default_factory=CallMeta)
    problem: str | None = None

    @property
    def name(self) -> str:
        """The file name as people read it (also when its bytes are not UTF-8)."""
        return readable_name(Path(self.uri).name) if self.uri else self.call_id

    @property
    def stored_uri(self) -> str | None:
        """The path as the calls table stores it (see `stored_uri`)."""
        return stored_uri(self.uri) if self.uri else None


class RecordingSource(Protocol):
    def list_day(self, day: dt.date) -> list[Recording]: ...

    def read(self, recording: Recording) -> bytes: ...


@dataclass(frozen=True)
class _File:
    """A day folder entry that stands for a call; `problem` when it must not be read."""

    path: Path
    problem: str | None = None


class LocalRecordingSource:
    def __init__(
        self,
        root: Path,
        extensions: list[str],
        timezone: str = "Asia/Shanghai",
        manifest_name: str = "manifest.csv",
    ):
        self.root = Path(root)
        self.extensions = {ext.lower().lstrip(".") for ext in extensions}
        self.tz = ZoneInfo(timezone)
        self.manifest_name = manifest_name

    @classmethod
    def from_settings(cls, settings) -> LocalRecordingSource:
        """The recordings folder of a loaded configuration (core.config.Settings)."""
        source = settings.source
        return cls(
            Path(settings.recordings), source.extensions, settings.timezone, source.manifest_name
        )

    def day_folder(self, day: dt.date) -> Path:
        return self.root / day.isoformat()

    def list_day(self, day: dt.date) -> list[Recording]:
        folder = self.day_folder(day)
        if not folder.is_dir():
            raise SourceError(
                f"no recordings folder for {day}: {folder} does not exist "
                "(check --recordings or the nightly pull)"
            )
        manifest = self._read_manifest(folder / self.manifest_name)
        recordings = []
        for call_id, file in self._recording_files(folder).items():
            meta, problem = manifest.pop(call_id, (CallMeta(), None))
            problem = file.problem or problem or self._type_problem(file.path)
            recordings.append(Recording(call_id, day, str(file.path), meta, problem))
        for call_id, (meta, row_problem) in manifest.items():
            problem = f"listed in {self.manifest_name} but no recording file {call_id}.* was found"
            if row_problem:
                problem = f"{problem}; {row_problem}"
            recordings.append(Recording(call_id, day, None, meta, problem))
        return sorted(recordings, key=lambda rec: rec.call_id)

    def read(self, recording: Recording) -> bytes:
        if recording.uri is None:
            raise BadRecordingError(recording.problem or f"{recording.call_id}: no recording file")
        path = Path(recording.uri)
        if path.parent != self.day_folder(recording.date):
            raise BadRecordingError(f"{recording.name}: not in the day folder of {recording.date}")
        try:
            return _read_regular_file(path)
        except FileNotFoundError as exc:
            raise BadRecordingError(
                f"{recording.name}: the file disappeared before reading"
            ) from exc
        except PermissionError as exc:
            raise BadRecordingError(f"{recording.name}: no permission to read the file") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BadRecordingError(_link_problem(path.name)) from exc
            if exc.errno in TRANSIENT_ERRNOS:
                raise TransientError(f"{recording.name}: read failed ({exc.strerror})") from exc
            raise BadRecordingError(f"{recording.name}: cannot be read ({exc})") from exc

    def _type_problem(self, path: Path) -> str | None:
        if self._supported(path):
            return None
        return (
            f"{readable_name(path.name)}: unsupported file type "
            f"{readable_name(path.suffix) or '(none)'}; "
            f"convert it to one of {', '.join(sorted(self.extensions))}"
        )

    def _supported(self, path: Path) -> bool:
        return path.suffix.lower().lstrip(".") in self.extensions

    def _recording_files(self, folder: Path) -> dict[str, _File]:
        files: dict[str, _File] = {}
        ignored: dict[str, list[str]] = {}
        try:
            listing = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(
                f"{folder}: the day folder cannot be listed ({exc.strerror or exc}); "
                "give the user running the night read and execute permission on it"
            ) from exc
        for entry in listing:
            if entry.name == self.manifest_name:
                continue
            if why := self._ignored(entry):
                ignored.setdefault(why, []).append(entry.name)
                continue
            self._add(files, _File(Path(folder, entry.name), _entry_problem(entry)))
        for why, names in ignored.items():
            shown = ", ".join(names[:IGNORED_SHOWN])
            more = f" and {len(names) - IGNORED_SHOWN} more" if len(names) > IGNORED_SHOWN else ""
            logger.info("%s: %d ignored as %s: %s%s", folder, len(names), why, shown, more)
        return files

    def _ignored(self, entry: os.DirEntry) -> str | None:
        """Why an entry is not a call, or None when it is one (or an error row)."""
        suffix = Path(entry.name).suffix.lower().lstrip(".")
        if entry.name.startswith("."):
            if suffix in self.extensions:
                logger.warning(
                    "%s: ignored: the name starts with a dot (a hidden or temporary file); "
                    "if it is a call, rename it without the leading dot",
                    entry.path,
                )
            return IGNORED_HIDDEN
        if entry.is_dir(follow_symlinks=False):
            return IGNORED_FOLDER
        if suffix in SIDECAR_EXTENSIONS:
            return IGNORED_SIDECAR
        return None

    def _add(self, files: dict[str, _File], file: _File) -> None:
        call_id = readable_name(file.path.stem)
        kept = files.get(call_id)
        if kept is not None and self._rank(file) > self._rank(kept):
            kept, file = file, kept
        if kept is not None:
            logger.warning(
                "%s: a second file for call %s; using %s", file.path, call_id, kept.path.name
            )
        files[call_id] = kept or file

    def _rank(self, file: _File) -> bool:
        """A readable file of a supported type wins over another file of the same call."""
        return file.problem is None and self._supported(file.path)

    def _read_manifest(self, path: Path) -> dict[str, tuple[CallMeta, str | None]]:
        rows = self._manifest_rows(path)
        columns = set(rows[0][1].keys()) if rows else set()
        if rows and "call_id" not in columns:
            raise SourceError(
                f"{path}: no call_id column; the header must name some of {', '.join(MANIFEST_COLUMNS)}"
            )
        unknown = columns - set(MANIFEST_COLUMNS)
        if unknown:
            logger.warning("%s: ignoring unknown columns %s", path, sorted(c for c in unknown if c))
        lines: dict[str, list[int]] = {}
        entries: dict[str, tuple[CallMeta, str | None]] = {}
        for line, row in rows:
            call_id = (row.get("call_id") or "").strip()
            if not call_id:
                logger.warning("%s line %d: empty call_id, row ignored", path, line)
                continue
            lines.setdefault(call_id, []).append(line)
            entries[call_id] = self._parse_row(row, f"{path.name} line {line}")
        for call_id, found in lines.items():
            if len(found) > 1:
                entries[call_id] = (CallMeta(), _duplicate_problem(path.name, call_id, found))
        return entries

    def _manifest_rows(self, path: Path) -> list[tuple[int, dict[str, str]]]:
        """(line number, row) of each manifest row; none when there is no manifest."""
        try:
            fd = os.open(path, NO_FOLLOW)
        except FileNotFoundError:
            return []
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SourceError(
                    f"{path}: a symbolic link; the manifest is not read through links: "
                    "copy the manifest itself into the day folder"
                ) from exc
            raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SourceError(
                f"{path}: a folder or other non-file, not a CSV file; "
                "put the manifest itself there or rename the folder"
            )
        try:
            with open(fd, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                _check_header(path, reader.fieldnames or [])
                return [(reader.line_num, row) for row in reader]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(f"{path}: not a readable UTF-8 CSV ({exc}); re-export it") from exc
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from exc

    def _parse_row(self, row: dict[str, str], where: str) -> tuple[CallMeta, str | None]:
        problems = []

        def text(key: str) -> str | None:
            value = (row.get(key) or "").strip()
            if _CONTROL.search(value):
                problems.append(f"{key} holds a control character (a NUL byte or similar)")
                return None
            return value or None

        layout = text("channel_layout")
        if layout is not None and layout not in CHANNEL_LAYOUTS:
            problems.append(f"channel_layout {layout!r} is not one of {', '.join(CHANNEL_LAYOUTS)}")
            layout = None
        started_at = None
        if raw := text("started_at"):
            try:
                started_at = dt.datetime.fromisoformat(raw)
            except ValueError:
                problems.append(f"started_at {raw!r} is not an ISO 8601 time")
            else:
                if started_at.tzinfo is None:
                    started_at = started_at.replace(tzinfo=self.tz)
                started_at = started_at.astimezone(dt.UTC)
        meta = CallMeta(
            started_at=started_at,
            agent_id=text("agent_id"),
            queue=text("queue"),
            direction=text("direction"),
            customer_tier=text("customer_tier"),
            channel_layout=layout,
        )
        problem = f"{where}: {'; '.join(problems)}; fix the manifest row" if problems else None
        return meta, problem


def readable_name(name: str) -> str:
    """A file name as text that can be stored and shown. A name the file system gave as UTF-8
    is kept; other bytes are read as GB18030 (a superset of GBK, which Windows shares and many
    Chinese recorders write), and bytes that are not that either are written as %XX. The call
    id of a recording is its readable stem, so a manifest written in UTF-8 names it."""
    if not _UNDECODED.search(name):
        return name
    raw = os.fsencode(name)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return _UNDECODED.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", name)


def stored_uri(path: str) -> str:
    """A recording's path as a table stores it: the path itself, absolute, or where its bytes
    are not UTF-8 (Parquet strings must be) a file: URI with those bytes percent-encoded."""
    absolute = os.path.abspath(path)
    if not _UNDECODED.search(absolute):
        return absolute
    return FILE_URI + quote_from_bytes(os.fsencode(absolute), safe="/")


def path_of_stored_uri(uri: str) -> Path:
    """The file system path of a stored `source_uri` (a path or a file: URI)."""
    if uri.startswith(FILE_URI):
        return Path(os.fsdecode(unquote_to_bytes(uri[len(FILE_URI) :])))
    return Path(uri)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _check_header(path: Path, columns: list[str]) -> None:
    twice = sorted({name for name in columns if name and columns.count(name) > 1})
    if twice:
        raise SourceError(
            f"{path}: the header names {', '.join(twice)} more than once; "
            "keep one column of each name and run the night again"
        )


def _entry_problem(entry: os.DirEntry) -> str | None:
    """Why a call's file must not be read: a link (never followed) or not a regular file."""
    if entry.is_symlink():
        return _link_problem(entry.name)
    if not entry.is_file(follow_symlinks=False):
        return (
            f"{readable_name(entry.name)}: not a regular file (a pipe, socket or device); "
            "put the recording itself in the day folder"
        )
    return None


def _link_problem(name: str) -> str:
    return (
        f"{readable_name(name)}: a symbolic link, not a recording file; links are not followed: "
        "copy the recording itself into the day folder"
    )


def _duplicate_problem(manifest: str, call_id: str, lines: list[int]) -> str:
    numbers = ", ".join(map(str, lines[:-1])) + f" and {lines[-1]}"
    return (
        f"{manifest} lists call {call_id} on lines {numbers}; the call was not processed: "
        "keep one row per call and run the night again"
    )


def _read_regular_file(path: Path) -> bytes:
    """The file's bytes, opened without following a link at its name; only a regular file."""
    fd = os.open(path, NO_FOLLOW)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BadRecordingError(
                f"{readable_name(path.name)}: not a regular file; it was not read"
            )
        return handle.read()
