"""What the web app reads from the warehouse, with small caches keyed by partition file times.

A call page reads one day's calls and segments partitions (only the columns it shows) and keeps
the last few days in memory, so the next call of the same day costs a dictionary look-up. The
caches check the partition file's modification time on every use: a night that rewrites a day
is seen at the next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.storage.recordings import path_of_stored_uri
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)

SEGMENT_COLUMNS = [
    "call_id", "idx", "start_s", "end_s", "speaker", "overlap", "text", "text_redacted",
    "sentiment", "emotion", "arousal",
]  # fmt: skip
CALL_COLUMNS = [
    "call_id", "date", "started_at", "duration_s", "channels", "channel_layout", "source_uri",
    "agent_id", "queue", "direction", "customer_tier", "language", "status", "error",
    "n_segments", "categories", "complaint_class", "customer_sentiment",
    "customer_sentiment_start", "customer_sentiment_end", "agent_sentiment", "customer_emotion",
    "peak_negative_s", "peak_negative_idx", "escalation_risk", "escalation_risk_score",
    "escalation_reasons", "audio_sha256", "talk_time_agent_s", "talk_time_customer_s",
    "silence_ratio", "non_talk_ratio", "overtalk_s", "interruptions_agent",
    "interruptions_customer", "hold_s", "ivr_s", "speech_rate_agent", "speech_rate_customer",
]  # fmt: skip
HIT_COLUMNS = ["call_id", "category", "kind", "matched", "match", "idx", "start_s", "end_s"]
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
}


HASH_BLOCK = 1 << 20
HASHES_KEPT = 4096  # recordings whose SHA-256 is remembered, by inode and version


class AudioUnavailable(Exception):
    """A call has no recording this server may play. `forbidden` when a file is there but is
    not allowed (a link, not a regular file, outside the recordings root, not the file the
    night transcribed)."""

    def __init__(self, message: str, forbidden: bool = False):
        super().__init__(message)
        self.message = message
        self.forbidden = forbidden


class _DayTable:
    """One day's partition of a table, grouped by call: rows of a call in one slice."""

    def __init__(self, table: pa.Table, sort_keys: list[str]):
        if table.num_rows:
            table = table.sort_by([(key, "ascending") for key in sort_keys])
        self.table = table
        ids = table["call_id"].to_numpy(zero_copy_only=False) if table.num_rows else np.array([])
        names, first, counts = np.unique(ids, return_index=True, return_counts=True)
        self.slices = {
            str(name): (int(f), int(c)) for name, f, c in zip(names, first, counts, strict=True)
        }

    def rows(self, call_id: str) -> list[dict]:
        where = self.slices.get(call_id)
        return self.table.slice(*where).to_pylist() if where else []

    def call_ids(self) -> list[str]:
        return list(self.slices)


class LRU:
    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, stamp, load: Callable):
        with self.lock:
            hit = self.items.get(key)
            if hit and hit[0] == stamp:
                self.items.move_to_end(key)
                return hit[1]
        value = load()
        with self.lock:
            self.items[key] = (stamp, value)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


class WarehouseView:
    """Read-only, cached access to the tables the pages show."""

    def __init__(self, root: Path | str, recordings: Path | None = None, cache_days: int = 8):
        self.store = Warehouse(root)
        self.root = self.store.root  # a Path, or the URI of an object-store warehouse
        self.recordings = Path(recordings) if recordings else None
        self._days = {table: LRU(cache_days) for table in ("calls", "segments", "keyword_hits")}
        self._ids: dict[dt.date, tuple[int | None, pa.Array]] = {}
        self._facets: dict[dt.date, tuple[int | None, set, set]] = {}
        self._ids_lock = threading.Lock()
        self._hashes = LRU(HASHES_KEPT)

    # partitions ------------------------------------------------------------
    def days(self, table: str = "calls") -> list[dt.date]:
        return self.store.days(table)

    def stamp(self, table: str, day: dt.date) -> str | None:
        """The partition's version token: changes whenever the day is rewritten."""
        return self.store.version(table, day)

    def _read(self, table: str, day: dt.date, columns: list[str]) -> pa.Table:
        return self.store.read(table, day, columns)

    def _day_table(self, table: str, day: dt.date, columns: list[str], keys: list[str]):
        stamp = self.stamp(table, day)
        return self._days[table].get(
            day, stamp, lambda: _DayTable(self._read(table, day, columns), keys)
        )

    # calls -----------------------------------------------------------------
    def call_day(self, call_id: str, hint: dt.date | None = None) -> dt.date | None:
        """The day a call is stored under (the hint first, then the newest day backwards)."""
        days = self.days()
        for day in ([hint] if hint in days else []) + days[::-1]:
            if pc.index(self._call_ids(day), call_id).as_py() >= 0:
                return day
        return None

    def _call_ids(self, day: dt.date) -> pa.Array:
        """The day's call ids only (kept for every day: a few bytes a call)."""
        stamp = self.stamp("calls", day)
        with self._ids_lock:
            known = self._ids.get(day)
        if known and known[0] == stamp:
            return known[1]
        ids = self._read("calls", day, ["call_id"])["call_id"].combine_chunks()
        with self._ids_lock:
            self._ids[day] = (stamp, ids)
        return ids

    def calls_table(self, day: dt.date) -> _DayTable:
        return self._day_table("calls", day, CALL_COLUMNS, ["call_id"])

    def call(self, call_id: str, day: dt.date) -> dict | None:
        rows = self.calls_table(day).rows(call_id)
        return rows[0] if rows else None

    def segments(self, call_id: str, day: dt.date) -> list[dict]:
        return self._day_table("segments", day, SEGMENT_COLUMNS, ["call_id", "idx"]).rows(call_id)

    def keyword_hits(self, call_id: str, day: dt.date) -> list[dict]:
        return self._day_table("keyword_hits", day, HIT_COLUMNS, ["call_id", "idx"]).rows(call_id)

    def calls_of_day(self, day: dt.date) -> list[dict]:
        return self.calls_table(day).table.to_pylist()

    def facets(self, last_days: int = 31) -> dict[str, list[str]]:
        """Queues and agents seen in the latest days (for the filter lists)."""
        queues, agents = set(), set()
        for day in self.days()[-last_days:]:
            day_queues, day_agents = self._day_facets(day)
            queues |= day_queues
            agents |= day_agents
        return {"queues": sorted(queues), "agents": sorted(agents)}

    def _day_facets(self, day: dt.date) -> tuple[set, set]:
        stamp = self.stamp("calls", day)
        with self._ids_lock:
            known = self._facets.get(day)
        if known and known[0] == stamp:
            return known[1], known[2]
        table = self._read("calls", day, ["queue", "agent_id"])
        queues = {v for v in pc.unique(table["queue"]).to_pylist() if v}
        agents = {v for v in pc.unique(table["agent_id"]).to_pylist() if v}
        with self._ids_lock:
            self._facets[day] = (stamp, queues, agents)
        return queues, agents

    # audio -----------------------------------------------------------------
    def audio_file(self, call: dict) -> Path:
        """The recording of a transcribed (status ok) call: the path the night stored (absolute,
        or relative to where the night ran) or the same file name under the recordings root's
        day folder. Served only when it is a regular file, not a link, of an audio type, inside
        the recordings root once resolved, and still the file the night hashed (calls
        audio_sha256); never a path from a request. Else AudioUnavailable.
        """
        name = call["call_id"]
        if call.get("status") != "ok":
            raise AudioUnavailable(
                f"call {name!r} has no audio to play: it was not transcribed "
                f"(status {call.get('status') or 'unknown'})"
            )
        if self.recordings is None:
            raise AudioUnavailable("this server has no recordings folder (serve --recordings)")
        if not call.get("source_uri"):
            raise AudioUnavailable(f"call {name!r} has no recording")
        root = self.recordings.resolve()
        refused = []
        for path in self._audio_candidates(call):
            try:
                return self._as_recorded(_servable(path, root, name), call)
            except AudioUnavailable as exc:
                refused.append(exc)
        forbidden = [exc for exc in refused if exc.forbidden]
        raise forbidden[0] if forbidden else refused[0]

    def has_audio(self, call: dict) -> bool:
        try:
            self.audio_file(call)
        except AudioUnavailable:
            return False
        return True

    def _as_recorded(self, path: Path, call: dict) -> Path:
        """`path` when its content is the recording the night transcribed: its SHA-256 is
        the stored one. A file's hash is remembered by its inode and version (size, mtime,
        ctime), so it is read again only once it changed. A call stored without a hash
        (staged before the night recorded them) is served only when the file has no other
        hard link, as nothing else vouches for it."""
        expected = call.get("audio_sha256")
        name = call["call_id"]
        try:
            with _open_regular(path) as handle:
                info = os.fstat(handle.fileno())
                if not expected:
                    _single_link(info, name)
                    return path
                key = (info.st_dev, info.st_ino)
                version = (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
                actual = self._hashes.get(key, version, lambda: _sha256(handle))
        except OSError:
            raise AudioUnavailable(
                f"the recording of call {name!r} cannot be read on this server"
            ) from None
        if not hmac.compare_digest(actual, str(expected).lower()):
            raise AudioUnavailable(
                f"the recording of call {name!r} is not the file that was transcribed (its "
                "SHA-256 differs from the one stored that night); it is not served",
                forbidden=True,
            )
        return path

    def _audio_candidates(self, call: dict) -> list[Path]:
        stored = path_of_stored_uri(call["source_uri"])
        beside = self.recordings / call["date"].isoformat() / stored.name
        return [stored] if beside == stored else [stored, beside]


def _servable(path: Path, root: Path, call_id: str) -> Path:
    """`path` resolved, when it may be served; the messages name no server path."""
    if path.suffix.lower() not in AUDIO_TYPES:
        raise AudioUnavailable(f"the recording of call {call_id!r} is not an audio file")
    try:
        mode = path.lstat().st_mode
    except OSError:
        raise AudioUnavailable(f"the recording of call {call_id!r} is not on this server") from None
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        raise AudioUnavailable(
            f"the recording of call {call_id!r} is a link or not a regular file; it is not served",
            forbidden=True,
        )
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise AudioUnavailable(
            f"the recording of call {call_id!r} is outside the recordings folder; it is not served",
            forbidden=True,
        )
    return resolved


def _open_regular(path: Path):
    """The file, read-only, never through a link nor blocking on a pipe swapped in since it
    was checked (OSError then)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    handle = os.fdopen(fd, "rb", buffering=0)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(f"{path} is not a regular file")
    return handle


def _single_link(info: os.stat_result, call_id: str) -> None:
    if info.st_nlink > 1:
        raise AudioUnavailable(
            f"the recording of call {call_id!r} has other hard links and no stored hash to "
            "check it by; it is not served",
            forbidden=True,
        )


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    while block := handle.read(HASH_BLOCK):
        digest.update(block)
    return digest.hexdigest()
