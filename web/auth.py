"""Users, passwords and sessions, with the standard library only.

- Users live in `<warehouse>/web/users.json`: name, role and an scrypt hash of the password
  (random salt per user); never the password. The file is written atomically.
- A session is a cookie holding the user's name, role, expiry and a CSRF token, signed with
  HMAC-SHA256 under the secret from $CALLSCOPE_SECRET_KEY. Signing out revokes the session
  id until it would have expired anyway; a user removed or given another role is signed out
  at the next request.
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
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.logs import get_logger

logger = get_logger(__name__)

ROLES = ("supervisor", "analyst", "marketing")
SECRET_ENV = "CALLSCOPE_SECRET_KEY"
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_SALT = secrets.token_bytes(16)


class AuthError(ValueError):
    """A user name, role or password that cannot be used; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def sees_personal_data(self) -> bool:
        return self.role != "marketing"

    @property
    def hears_audio(self) -> bool:
        return self.role != "marketing"

    @property
    def sees_agents(self) -> bool:
        return self.role != "marketing"


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
        self._cache: tuple[float, dict] | None = None

    def _load(self) -> dict:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._cache and self._cache[0] == mtime:
            return self._cache[1]
        try:
            users = json.loads(self.path.read_text(encoding="utf-8"))["users"]
        except (OSError, ValueError, KeyError) as exc:
            raise AuthError(f"{self.path} is not a readable users file ({exc})") from exc
        self._cache = (mtime, users)
        return users

    def users(self) -> list[dict]:
        return [
            {"name": name, "role": rec["role"], "created_at": rec.get("created_at")}
            for name, rec in sorted(self._load().items())
        ]

    def get(self, name: str) -> User | None:
        record = self._load().get(name)
        return User(name, record["role"]) if record else None

    def add(self, name: str, role: str, password: str, replace: bool = False) -> User:
        check_new_user(name, role, password)
        with self._lock:
            users = dict(self._load())
            if name in users and not replace:
                raise AuthError(f"user {name!r} exists; pass --replace to set a new password")
            users[name] = {"role": role, **hash_password(password), "created_at": _now()}
            self._write(users)
        logger.info("user %s (%s) saved to %s", name, role, self.path)
        return User(name, role)

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
        return User(name, record["role"]) if check_password(password, record) else None

    def _write(self, users: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"version": 1, "users": users})
        self._cache = None


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
    """(secret, from_env): $CALLSCOPE_SECRET_KEY, or a random one for this process only."""
    value = os.environ.get(SECRET_ENV, "")
    if value:
        if len(value) < 16:
            raise AuthError(f"${SECRET_ENV} is too short: use at least 16 random characters")
        return value.encode(), True
    return secrets.token_bytes(32), False


@dataclass(frozen=True)
class Session:
    sid: str
    name: str
    role: str
    expires: float
    csrf: str


class SessionSigner:
    """Signed, expiring session cookies, and their revocation at sign-out."""

    def __init__(self, secret: bytes, lifetime_s: float):
        self.key = hashlib.sha256(b"callscope-session\x00" + secret).digest()
        self.lifetime_s = lifetime_s
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, user: User) -> tuple[str, Session]:
        session = Session(
            sid=secrets.token_urlsafe(12),
            name=user.name,
            role=user.role,
            expires=time.time() + self.lifetime_s,
            csrf=secrets.token_urlsafe(24),
        )
        payload = json.dumps(
            [session.sid, session.name, session.role, int(session.expires), session.csrf],
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{body}.{self._sign(body)}", session

    def read(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            sid, name, role, expires, csrf = json.loads(base64.urlsafe_b64decode(body + "=="))
        except (ValueError, TypeError):
            return None
        if expires < time.time() or sid in self._revoked:
            return None
        return Session(sid, name, role, float(expires), csrf)

    def revoke(self, session: Session) -> None:
        now = time.time()
        with self._lock:
            self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
            self._revoked[session.sid] = session.expires

    def sign(self, value: str) -> str:
        return f"{value}.{self._sign(value)}"

    def unsign(self, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, signature = signed.rsplit(".", 1)
        return value if hmac.compare_digest(signature, self._sign(value)) else None

    def _sign(self, body: str) -> str:
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class LoginThrottle:
    """After `attempts` failed sign-ins for one name, refuse that name for `pause_s`."""

    def __init__(self, attempts: int, pause_s: float = 300.0):
        self.attempts = attempts
        self.pause_s = pause_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str) -> bool:
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < self.pause_s]
            self._failures[name] = recent
            return len(recent) >= self.attempts

    def failed(self, name: str) -> None:
        now = time.time()
        with self._lock:
            if len(self._failures) > 10_000:  # many names tried: forget the stale ones
                self._failures = {
                    n: ts for n, ts in self._failures.items() if ts and now - ts[-1] < self.pause_s
                }
            self._failures.setdefault(name, []).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
