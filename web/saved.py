"""Themed-listening lists: a user's saved searches, in `<warehouse>/web/saved_queries.json`
(written whole and atomically; each user sees only their own).

A saved query belongs to the user's record (its `uid`, web/auth.py), not to the name alone: a
new password or role keeps the list, but a name removed and added again starts with none, and
the old record's queries are dropped at its first save. A user is a `User` (the signed-in
one) or a name, looked up in the users file beside this one."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from pathlib import Path

from callscope.web.auth import USERS_FILE, User, UserStore, write_json_atomic
from callscope.web.errors import BadRequest, NotFound, Unavailable

MAX_PER_USER = 100
MAX_NAME = 80
OWNER = "owner"  # the uid of the user record a saved query belongs to


class SavedQueries:
    def __init__(self, path: Path, users: UserStore | None = None):
        self.path = Path(path)
        self.users = users or UserStore(self.path.with_name(USERS_FILE))
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[dict]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))["users"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:
            raise Unavailable(f"{self.path} is not a readable saved-queries file ({exc})") from exc

    def _user(self, user: User | str) -> User | None:
        return user if isinstance(user, User) else self.users.get(user)

    def _mine(self, everyone: dict, user: User | None) -> list[dict]:
        if user is None:
            return []
        return [saved for saved in everyone.get(user.name, []) if _owned_by(saved, user)]

    def list(self, user: User | str) -> list[dict]:
        return [_public(saved) for saved in self._mine(self._load(), self._user(user))]

    def get(self, user: User | str, query_id: str) -> dict:
        for saved in self.list(user):
            if saved["id"] == query_id:
                return saved
        raise NotFound(f"no saved query {query_id!r}")

    def add(self, user: User | str, name: str, params: dict) -> dict:
        name = (name or "").strip() or params.get("q", "")
        if not params.get("q"):
            raise BadRequest("a saved query needs a query (q)")
        if len(name) > MAX_NAME:
            raise BadRequest(f"the name is too long (at most {MAX_NAME} characters)")
        owner = self._user(user)
        if owner is None:
            raise NotFound(f"no user {user!r}: add the user first (callscope users add)")
        saved = {
            "id": secrets.token_urlsafe(6),
            "name": name,
            "params": params,
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            OWNER: owner.uid,
        }
        with self._lock:
            everyone = self._load()
            mine = self._mine(everyone, owner)  # a former record's queries are dropped here
            if len(mine) >= MAX_PER_USER:
                raise BadRequest(f"at most {MAX_PER_USER} saved queries; delete one first")
            everyone[owner.name] = [*mine, saved]
            self._write(everyone)
        return _public(saved)

    def delete(self, user: User | str, query_id: str) -> None:
        with self._lock:
            everyone = self._load()
            owner = self._user(user)
            mine = self._mine(everyone, owner)
            kept = [saved for saved in mine if saved["id"] != query_id]
            if len(kept) == len(mine):
                raise NotFound(f"no saved query {query_id!r}")
            everyone[owner.name] = kept
            self._write(everyone)

    def _write(self, everyone: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"version": 1, "users": everyone})


def _owned_by(saved: dict, user: User) -> bool:
    """Whether `saved` belongs to this record of the user (queries saved before records had
    a uid belong to the records from before it too, and to no later one)."""
    return str(saved.get(OWNER) or "") == user.uid


def _public(saved: dict) -> dict:
    return {key: value for key, value in saved.items() if key != OWNER}
