"""Users, passwords, sessions and sign-in limits.

- Users live in `<warehouse>/web/users.json`: name, role and an scrypt hash of the password
  (random salt per user); never the password. The file is written atomically.
- Sessions live on the server, in `<warehouse>/web/sessions.sqlite`, shared by every server
  process and the CLI. The cookie holds only a random session id, signed with HMAC-SHA256
  under the secret from $CALLSCOPE_SECRET_KEY; the file keeps a hash of the id. A session
  ends at sign-out, after `web.session_idle_minutes` without a request, `web.session_hours`
  after sign-in, and as soon as its user's record changes: every `users add` writes a new
  salt, so a new password, a new role, or removing and adding the name again all change the
  record's stamp that each session must match. Each record also has a random `uid`, kept
  when `users add --replace` sets a new password or role and new when a removed name is added
  again: what belongs to a user (saved queries) is tied to it, never to the name alone.
- Sign-in limits (the `limits` library, in memory): attempts per client address, and failed
  attempts per name from one client, so nobody can lock a user out from elsewhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from callscope.core.logs import get_logger
from callscope.core.secrets import SESSION_SECRET, SecretError, session_secret
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

logger = get_logger(__name__)

ROLES = ("supervisor", "analyst", "marketing")
SECRET_ENV = SESSION_SECRET
USERS_FILE = "users.json"
SESSIONS_FILE = "sessions.sqlite"
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_SALT = secrets.token_bytes(16)


class AuthError(ValueError):
    """A user name, role or password that cannot be used; the message says why."""


class StoreUnreadable(AuthError):
    """The users file or the sessions database cannot be used; the message names the file."""

    public_message = "sign-in is not available: an administrator must check the server log"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    stamp: str = ""
    uid: str = ""  # this user's record, whatever its password; "" for records made before it

    @property
    def sees_personal_data(self) -> bool:
        return self.role != "marketing"

    @property
    def hears_audio(self) -> bool:
        return self.role != "marketing"

    @property
    def sees_agents(self) -> bool:
        return self.role != "marketing"

    @property
    def sees_floor(self) -> bool:
        """The floor's figures (the overview: handle time, silence, overtalk, escalation
        risk per day, queue and agent) are the supervisors' and analysts' own."""
        return self.role in ("supervisor", "analyst")


def hash_password(password: str, salt: bytes | None = None) -> dict:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT, dklen=32)
    return {"salt": salt.hex(), "hash": digest.hex(), **_SCRYPT}


def check_password(password: str, record: dict) -> bool:
    params = {key: int(record[key]) for key in ("n", "r", "p")}
    digest = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(record["salt"]), **params, dklen=32
    )
    return hmac.compare_digest(digest.hex(), record["hash"])


class UserStore:
    """The users file; re-read when it changes on disk (the CLI may edit it while serving)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict] | None = None

    def _load(self) -> dict:
        """The users; the file is read again whenever it was replaced (each write is a new
        file, so its inode changes even where timestamps are coarse)."""
        try:
            info = self.path.stat()
            version = (info.st_mtime_ns, info.st_ino, info.st_size)
            if self._cache and self._cache[0] == version:
                return self._cache[1]
            users = json.loads(self.path.read_text(encoding="utf-8"))["users"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:
            raise StoreUnreadable(f"{self.path} is not a readable users file ({exc})") from exc
        self._cache = (version, users)
        return users

    def users(self) -> list[dict]:
        return [
            {"name": name, "role": rec["role"], "created_at": rec.get("created_at")}
            for name, rec in sorted(self._load().items())
        ]

    def get(self, name: str) -> User | None:
        record = self._load().get(name)
        return _user(name, record) if record else None

    def add(self, name: str, role: str, password: str, replace: bool = False) -> User:
        check_new_user(name, role, password)
        with self._lock:
            users = dict(self._load())
            if name in users and not replace:
                raise AuthError(f"user {name!r} exists; pass --replace to set a new password")
            uid = users[name].get("uid", "") if name in users else secrets.token_urlsafe(12)
            record = {"role": role, **hash_password(password), "created_at": _now()}
            users[name] = record | ({"uid": uid} if uid else {})
            self._write(users)
        logger.info("user %s (%s) saved to %s", name, role, self.path)
        return _user(name, users[name])

    def remove(self, name: str) -> bool:
        with self._lock:
            users = dict(self._load())
            if users.pop(name, None) is None:
                return False
            self._write(users)
        return True

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right; the same work is done for unknown names."""
        record = self._load().get(name)
        if record is None:
            hashlib.scrypt(password.encode(), salt=_DUMMY_SALT, **_SCRYPT, dklen=32)
            return None
        return _user(name, record) if check_password(password, record) else None

    def _write(self, users: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"version": 1, "users": users})
        self._cache = None


def _user(name: str, record: dict) -> User:
    """The user with the stamp of this version of their record (new at every `add`)."""
    material = "\x00".join([name, record["role"], record["salt"], record["hash"]])
    stamp = hashlib.sha256(material.encode()).hexdigest()[:32]
    return User(name, record["role"], stamp, str(record.get("uid") or ""))


def check_new_user(name: str, role: str, password: str) -> None:
    if not _NAME.match(name or ""):
        raise AuthError(
            f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(f"the password must have at least {MIN_PASSWORD} characters")


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def secret_from_env() -> tuple[bytes, bool]:
    """(secret, from_env): $CALLSCOPE_SECRET_KEY or the file $CALLSCOPE_SECRET_KEY_FILE names
    (core/secrets.py: at least 32 characters, no example placeholder), or a random one for this
    process only when neither is set."""
    try:
        value = session_secret()
    except SecretError as exc:
        raise AuthError(str(exc)) from exc
    if value is None:
        return secrets.token_bytes(32), False
    return value.encode(), True


@dataclass(frozen=True)
class Session:
    sid: str
    name: str
    role: str
    expires: float
    csrf: str
    stamp: str = ""
    last_seen: float = 0.0


class SessionSigner:
    """New sessions and HMAC signatures under the secret (session and sign-in form cookies)."""

    def __init__(self, secret: bytes, lifetime_s: float):
        self.key = hashlib.sha256(b"callscope-session\x00" + secret).digest()
        self.lifetime_s = lifetime_s

    def issue(self, user: User) -> tuple[str, Session]:
        """A new session for `user` (not yet stored) and its cookie: the signed session id."""
        now = time.time()
        session = Session(
            sid=secrets.token_urlsafe(32),
            name=user.name,
            role=user.role,
            expires=now + self.lifetime_s,
            csrf=secrets.token_urlsafe(24),
            stamp=user.stamp,
            last_seen=now,
        )
        return self.sign(session.sid), session

    def sign(self, value: str) -> str:
        return f"{value}.{self._sign(value)}"

    def unsign(self, signed: str | None) -> str | None:
        """The value of a cookie signed here; None for anything else, whatever its bytes."""
        if not signed or not signed.isascii() or "." not in signed:
            return None
        value, signature = signed.rsplit(".", 1)
        return value if hmac.compare_digest(signature, self._sign(value)) else None

    def _sign(self, body: str) -> str:
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


_OPEN_WAIT_S = 10
_CREATE_LOCK = threading.Lock()
_SESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS session (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    stamp TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL,
    last_seen REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_name ON session (name);
"""


class SessionStore:
    """Sessions in one SQLite file (WAL) that several server processes and the CLI share;
    one connection per thread. Rows are keyed by a hash of the session id."""

    def __init__(self, path: Path, idle_s: float = 3600.0):
        self.path = Path(path)
        self.idle_s = idle_s
        self.touch_s = min(60.0, idle_s / 4)
        self._local = threading.local()

    def add(self, session: Session) -> None:
        now = time.time()
        row = (session.name, session.role, session.stamp, session.csrf, session.expires)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM session WHERE expires < ? OR last_seen < ?", (now, now - self.idle_s)
            )
            db.execute(
                "INSERT INTO session VALUES (?,?,?,?,?,?,?)",
                (_key(session.sid), *row, session.last_seen or now),
            )

    def get(self, sid: str) -> Session | None:
        """The live session with this id (its idle clock restarted), or None."""
        now = time.time()
        key = _key(sid)
        try:
            row = (
                self._db()
                .execute(
                    "SELECT name, role, stamp, csrf, expires, last_seen FROM session WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise StoreUnreadable(f"{self.path}: {exc}") from exc
        if row is None:
            return None
        name, role, stamp, csrf, expires, last_seen = row
        if expires <= now or last_seen + self.idle_s <= now:
            self.end(sid)
            return None
        if now - last_seen >= self.touch_s:
            with self._transaction() as db:
                db.execute("UPDATE session SET last_seen = ? WHERE key = ?", (now, key))
            last_seen = now
        return Session(sid, name, role, expires, csrf, stamp, last_seen)

    def end(self, sid: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM session WHERE key = ?", (_key(sid),))

    def end_user(self, name: str) -> int:
        """End every session of `name`; how many there were."""
        with self._transaction() as db:
            return db.execute("DELETE FROM session WHERE name = ?", (name,)).rowcount

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnreadable(f"{self.path}: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open()
        return db

    def _open(self) -> sqlite3.Connection:
        deadline = time.monotonic() + _OPEN_WAIT_S
        while True:
            try:
                return self._connect()
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL while other connections open it can be
                # refused at once, without SQLite's busy wait: wait here instead.
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise self._unreadable(exc) from exc
                time.sleep(0.02)
            except (OSError, sqlite3.Error) as exc:
                raise self._unreadable(exc) from exc

    def _connect(self) -> sqlite3.Connection:
        self._create_private()
        db = sqlite3.connect(self.path, timeout=_OPEN_WAIT_S, isolation_level=None)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SESSIONS_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _unreadable(self, exc: Exception) -> StoreUnreadable:
        return StoreUnreadable(f"{self.path}: cannot open the sessions database ({exc})")

    def _create_private(self) -> None:
        """Create the file readable by its owner alone, only when it does not exist yet.

        The file is never opened and closed by hand once it exists: closing any descriptor of
        it drops every POSIX lock this process holds on it, including those of the SQLite
        connections of other threads. Another process (`callscope users add`) would then take
        itself for the last user of the database and delete its -wal and -shm files under the
        running server."""
        with _CREATE_LOCK:
            if self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                return
            os.close(fd)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class LoginThrottle:
    """Sign-in limits over a moving window, in this process's memory:

    - every attempt from one client address counts against `per_client`: spraying many
      names or passwords from one place is bounded, before any password is hashed;
    - failed attempts for one name from one client count against `per_name`, and a
      success clears them. Attempts from another client never count, so nobody can lock a
      user out from somewhere else.
    """

    def __init__(self, per_name: int, per_client: int, window_s: int):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_name = RateLimitItemPerSecond(per_name, window_s)
        self._per_client = RateLimitItemPerSecond(per_client, window_s)

    def attempt(self, name: str, client: str) -> float:
        """0 when this attempt may go on (it is counted for the client); otherwise the
        seconds until one may."""
        ids = ("name", client, name[:80])
        if not self._limiter.test(self._per_name, *ids):
            return self._wait(self._per_name, ids)
        if not self._limiter.hit(self._per_client, "client", client):
            return self._wait(self._per_client, ("client", client))
        return 0.0

    def failed(self, name: str, client: str) -> None:
        self._limiter.hit(self._per_name, "name", client, name[:80])

    def succeeded(self, name: str, client: str) -> None:
        self._limiter.clear(self._per_name, "name", client, name[:80])

    def _wait(self, item: RateLimitItemPerSecond, ids: tuple[str, ...]) -> float:
        reset = self._limiter.get_window_stats(item, *ids).reset_time
        return max(1.0, reset - time.time())


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
