"""One writer per warehouse day: a lock file created atomically, with its holder written in it.

`<warehouse>/_locks/date=YYYY-MM-DD.lock` holds the host, pid, purpose and start time of the
process writing that day (the night, or an `apply` command). A second writer waits up to its
configured time and then fails with DayLocked naming the holder. The holder touches the file
while it runs; a lock whose process is gone (same host, pid not running) or whose file was not
touched for `stale_after_s` (a holder on another host that died) is taken over.

The file is created with O_CREAT | O_EXCL, which is atomic on local file systems and on NFS v3
and later, so the lock holds across hosts that share the warehouse folder. Within one process the
lock is re-entrant: the night holds it and the steps it runs take it again without waiting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from callscope.core.errors import DayLocked
from callscope.core.logs import get_logger

logger = get_logger(__name__)

UNREADABLE_GRACE_S = 5.0  # a lock file with no holder yet is only that young while created
_held: dict[Path, DayLock] = {}
_held_guard = threading.Lock()


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    purpose: str
    since: str
    token: str

    def describe(self) -> str:
        return f"{self.purpose} on {self.host} (pid {self.pid}) since {self.since}"


class DayLock:
    """A re-entrant, cross-process lock on one file path."""

    def __init__(self, path: Path, purpose: str, wait_s: float, stale_after_s: float):
        self.path = path
        self.purpose = purpose
        self.wait_s = wait_s
        self.stale_after_s = stale_after_s
        self.depth = 0
        self.holder: Holder | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # the context-manager protocol, re-entrant within the process ------------
    def __enter__(self) -> DayLock:
        with _held_guard:
            held = _held.get(self.path)
            if held is not None and held.holder is not None:
                held.depth += 1
                return held
        self._acquire()
        with _held_guard:
            _held[self.path] = self
        self.depth = 1
        return self

    def __exit__(self, *exc) -> None:
        with _held_guard:
            self.depth -= 1
            if self.depth > 0:
                return
            _held.pop(self.path, None)
        self._release()

    # acquiring ----------------------------------------------------------------
    def _acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        announced = False
        while True:
            if self._try_create():
                self._start_heartbeat()
                return
            holder = read_holder(self.path)
            if holder is None and self._age() < UNREADABLE_GRACE_S:
                time.sleep(0.05)  # being written by its creator this very moment
                continue
            if holder is None or self._is_stale(holder):
                self._take_over(holder)
                continue
            if time.monotonic() >= deadline:
                raise DayLocked(
                    f"{self.path.stem.removeprefix('date=')} is being written by "
                    f"{holder.describe()}; waited {self.wait_s:.0f} s. Run again when it has "
                    f"finished (or raise lock.wait_s); if that process is gone, delete {self.path}"
                )
            if not announced:
                logger.info("waiting for %s: held by %s", self.path.name, holder.describe())
                announced = True
            time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))

    def _try_create(self) -> bool:
        holder = Holder(
            host=socket.gethostname(),
            pid=os.getpid(),
            purpose=self.purpose,
            since=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            token=uuid.uuid4().hex,
        )
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(holder.__dict__, handle)
            handle.flush()
            os.fsync(handle.fileno())
        self.holder = holder
        return True

    def _is_stale(self, holder: Holder) -> bool:
        if holder.host == socket.gethostname() and not _pid_running(holder.pid):
            return True
        return self._age() > self.stale_after_s

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _take_over(self, holder: Holder | None) -> None:
        """Move the stale lock aside (only one taker's rename succeeds), then try again."""
        aside = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if holder is not None and read_holder(aside) != holder:
            os.rename(aside, self.path)  # it changed hands meanwhile: leave it be
            return
        aside.unlink(missing_ok=True)
        logger.warning(
            "took over %s from %s (no longer running)",
            self.path.name,
            holder.describe() if holder else "an unreadable holder",
        )

    # holding and releasing ----------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        interval = max(0.5, self.stale_after_s / 4)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    logger.error("%s disappeared while held", self.path)
                    return

        self._beat = threading.Thread(target=beat, name=f"lock {self.path.name}", daemon=True)
        self._beat.start()

    def _release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        current = read_holder(self.path)
        if current is not None and self.holder is not None and current.token == self.holder.token:
            self.path.unlink(missing_ok=True)
        self.holder = None


def read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, OSError):
        return None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
