"""Where a night's recordings come from: `<root>/<YYYY-MM-DD>/<call_id>.<ext>` + manifest.csv.

`RecordingSource` is the interface; `LocalRecordingSource` reads a local folder. An object
store (fsspec) implements the same two methods.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from core.errors import BadRecordingError, CallscopeError, TransientError
from core.logs import get_logger
from storage.schemas import CHANNEL_LAYOUTS

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
        return Path(self.uri).name if self.uri else self.call_id


class RecordingSource(Protocol):
    def list_day(self, day: dt.date) -> list[Recording]: ...

    def read(self, recording: Recording) -> bytes: ...


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

    def day_folder(self, day: dt.date) -> Path:
        return self.root / day.isoformat()

    def list_day(self, day: dt.date) -> list[Recording]:
        folder = self.day_folder(day)
        if not folder.is_dir():
            raise SourceError(
                f"no recordings folder for {day}: {folder} does not exist "
                "(check --recordings or the nightly pull)"
            )
        manifest = self._read_manifest(folder / self.manifest_name, day)
        files = self._recording_files(folder)
        recordings = []
        for call_id, path in files.items():
            meta, problem = manifest.pop(call_id, (CallMeta(), None))
            if problem is None and path.suffix.lower().lstrip(".") not in self.extensions:
                problem = (
                    f"{path.name}: unsupported file type {path.suffix or '(none)'}; "
                    f"convert it to one of {', '.join(sorted(self.extensions))}"
                )
            recordings.append(Recording(call_id, day, str(path), meta, problem))
        for call_id, (meta, _) in manifest.items():
            problem = f"listed in {self.manifest_name} but no recording file {call_id}.* was found"
            recordings.append(Recording(call_id, day, None, meta, problem))
        return sorted(recordings, key=lambda rec: rec.call_id)

    def read(self, recording: Recording) -> bytes:
        if recording.uri is None:
            raise BadRecordingError(recording.problem or f"{recording.call_id}: no recording file")
        try:
            return Path(recording.uri).read_bytes()
        except FileNotFoundError as exc:
            raise BadRecordingError(
                f"{recording.name}: the file disappeared before reading"
            ) from exc
        except PermissionError as exc:
            raise BadRecordingError(f"{recording.name}: no permission to read the file") from exc
        except OSError as exc:
            if exc.errno in TRANSIENT_ERRNOS:
                raise TransientError(f"{recording.name}: read failed ({exc.strerror})") from exc
            raise BadRecordingError(f"{recording.name}: cannot be read ({exc})") from exc

    def _recording_files(self, folder: Path) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith(".") or path.name == self.manifest_name:
                continue
            if path.suffix.lower().lstrip(".") in SIDECAR_EXTENSIONS:
                continue
            if path.stem in files:
                logger.warning(
                    "%s: a second file for call %s; using %s",
                    path,
                    path.stem,
                    files[path.stem].name,
                )
                continue
            files[path.stem] = path
        return files

    def _read_manifest(self, path: Path, day: dt.date) -> dict[str, tuple[CallMeta, str | None]]:
        if not path.exists():
            return {}
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
                columns = set(rows[0].keys()) if rows else set()
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(f"{path}: not a readable UTF-8 CSV ({exc}); re-export it") from exc
        if rows and "call_id" not in columns:
            raise SourceError(
                f"{path}: no call_id column; the header must name some of {', '.join(MANIFEST_COLUMNS)}"
            )
        unknown = columns - set(MANIFEST_COLUMNS)
        if unknown:
            logger.warning("%s: ignoring unknown columns %s", path, sorted(c for c in unknown if c))
        entries: dict[str, tuple[CallMeta, str | None]] = {}
        for line, row in enumerate(rows, start=2):
            call_id = (row.get("call_id") or "").strip()
            if not call_id:
                logger.warning("%s line %d: empty call_id, row ignored", path, line)
                continue
            entries[call_id] = self._parse_row(row, f"{path.name} line {line}")
        return entries

    def _parse_row(self, row: dict[str, str], where: str) -> tuple[CallMeta, str | None]:
        def text(key: str) -> str | None:
            value = (row.get(key) or "").strip()
            return value or None

        problems = []
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
