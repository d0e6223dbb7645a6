"""Bounds on the work that requests may make one server process do, whoever sends them.

- `HashingGate`: every password check (scrypt, about 50 ms of CPU) passes here. At most
  `web.login_hash_slots` run at once and `web.login_hashes_per_second` start per second in
  all (counted over HASH_WINDOW_S, so a burst passes); at most `web.login_hash_queue` more sign-ins wait for a slot, none longer than
  `web.login_hash_wait_s`. Any other sign-in is refused at once (503 with Retry-After),
  without hashing: a flood of sign-ins from many addresses, which the per-client limits of
  web/auth.py cannot bound, costs at most that much CPU, and signed-in users keep theirs.
- `SearchTurns`: each user's searches (search page and API, a saved query's matches), over
  all their sessions: at most `web.search_per_minute` in a moving window, and
  `web.search_at_once` running at once; as many more wait up to `web.search_wait_s` for their
  turn. Anything past that is answered 429 with Retry-After, before the index is asked, so
  one user's worst-case queries cannot take everyone's CPU.

Both live in this process's memory, like the sign-in limits: each server process (uvicorn
worker) has its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio.to_thread
from callscope.core.logs import get_logger
from callscope.web.errors import Busy, TooMany
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

logger = get_logger(__name__)

T = TypeVar("T")
SIGN_INS_BUSY = "Too many sign-ins at once: try again in a few seconds."
HASH_WINDOW_S = 10  # password checks per second are counted over this many seconds


class HashingGate:
    """At most `slots` password checks at once in this process, `per_second` started per
    second over any `window_s`; `queue` more may wait up to `wait_s` for a slot. `run` raises
    Busy for the others, before anything is hashed."""

    def __init__(
        self,
        slots: int,
        queue: int,
        wait_s: float,
        per_second: float,
        window_s: int = HASH_WINDOW_S,
    ):
        self.slots, self.wait_s = slots, wait_s
        self._most = slots + queue
        self._admitted = 0
        self._lock = threading.Lock()
        self._free = threading.BoundedSemaphore(slots)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rate = RateLimitItemPerSecond(max(1, round(per_second * window_s)), window_s)
        self._refusals = RefusalLog("sign-ins refused without a password check")

    async def run(self, check: Callable[..., T], *args) -> T:
        """`check(*args)` (a password check) in a worker thread once a slot is free; Busy
        when too many wait already, too many started lately, or no slot came in time."""
        self._admit()
        try:
            return await anyio.to_thread.run_sync(self._in_slot, check, args)
        finally:
            with self._lock:
                self._admitted -= 1

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self._most:
                raise self._busy("the queue for password checks is full", self.wait_s)
            if not self._limiter.hit(self._rate, "hash"):
                reset = self._limiter.get_window_stats(self._rate, "hash").reset_time
                raise self._busy("the password checks per second are used up", reset - time.time())
            self._admitted += 1

    def _in_slot(self, check: Callable[..., T], args: tuple) -> T:
        started = time.monotonic()
        if not self._free.acquire(timeout=self.wait_s):
            raise self._busy(f"no password check slot in {self.wait_s:g} s", self.wait_s)
        try:
            waited = time.monotonic() - started
            if waited > 0.5:
                logger.info("a sign-in waited %.1f s for a password check slot", waited)
            return check(*args)
        finally:
            self._free.release()

    def _busy(self, why: str, retry_after_s: float) -> Busy:
        self._refusals.note(why)
        return Busy(SIGN_INS_BUSY, max(1.0, math.ceil(retry_after_s)))


class SearchTurns:
    """Each user's searches: `per_minute` in a moving window, `at_once` running at once, as
    many more waiting up to `wait_s`; `turn` raises TooMany (429) for the others. Used from
    the worker threads that run the searches."""

    def __init__(self, per_minute: int, at_once: int, wait_s: float):
        self.per_minute, self.at_once, self.wait_s = per_minute, at_once, wait_s
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rate = RateLimitItemPerMinute(per_minute)
        self._changed = threading.Condition()
        self._running: dict[str, int] = {}
        self._waiting: dict[str, int] = {}
        self._refusals = RefusalLog("searches refused")

    @contextmanager
    def turn(self, user: str) -> Iterator[None]:
        """Run one search of `user` inside this block, or TooMany when it may not run now."""
        self._count(user)
        self._enter(user)
        try:
            yield
        finally:
            with self._changed:
                self._running[user] -= 1
                if not self._running[user]:
                    del self._running[user]
                self._changed.notify_all()

    def _count(self, user: str) -> None:
        if self._limiter.hit(self._rate, "search", user):
            return
        reset = self._limiter.get_window_stats(self._rate, "search", user).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        self._refusals.note(f"{user}: more than {self.per_minute} a minute")
        raise TooMany(
            f"Too many searches: at most {self.per_minute} a minute for each user. Try again "
            f"in {wait} seconds.",
            wait,
        )

    def _enter(self, user: str) -> None:
        with self._changed:
            if self._running.get(user, 0) >= self.at_once:
                if self._waiting.get(user, 0) >= self.at_once:
                    raise self._still_running(user)
                self._waiting[user] = self._waiting.get(user, 0) + 1
                try:
                    free = self._changed.wait_for(
                        lambda: self._running.get(user, 0) < self.at_once, timeout=self.wait_s
                    )
                finally:
                    self._waiting[user] -= 1
                    if not self._waiting[user]:
                        del self._waiting[user]
                if not free:
                    raise self._still_running(user)
            self._running[user] = self._running.get(user, 0) + 1

    def _still_running(self, user: str) -> TooMany:
        self._refusals.note(f"{user}: more than {self.at_once} at once")
        if self.at_once == 1:
            earlier = "Your earlier search is still running: each user runs one at a time."
        else:
            earlier = (
                f"Your {self.at_once} earlier searches are still running: each user runs "
                f"{self.at_once} at a time."
            )
        return TooMany(f"{earlier} Wait for it to finish, then try again.", max(1.0, self.wait_s))


class RefusalLog:
    """Refusals logged at most once every `every_s` seconds, with how many there were (the
    first at once): a flood fills no log."""

    def __init__(self, what: str, every_s: float = 10.0):
        self.what, self.every_s = what, every_s
        self._lock = threading.Lock()
        self._count, self._last = 0, 0.0

    def note(self, why: str) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._last < self.every_s:
                return
            count, self._count, self._last = self._count, 0, now
        logger.warning("%s: %d since the last such line (the latest: %s)", self.what, count, why)
