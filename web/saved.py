"""Themed-listening lists: a user's saved searches, in `<warehouse>/web/saved_queries.json`
(written whole and atomically; each user sees only their own)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from pathlib import Path

from web.auth import write_json_atomic
from web.errors import BadRequest, NotFound, Unavailable

MAX_PER_USER = 100
MAX_NAME = 80


class SavedQueries:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[dict]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))["users"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError) as exc:
            raise Unavailable(f"{self.path} is not a readable saved-queries file ({exc})") from exc

    def list(self, user: str) -> list[dict]:
        return self._load().get(user, [])

    def get(self, user: str, query_id: str) -> dict:
        for saved in self.list(user):
            if saved["id"] == query_id:
                return saved
        raise NotFound(f"no saved query {query_id!r}")

    def add(self, user: str, name: str, params: dict) -> dict:
        name = (name or "").strip() or params.get("q", "")
        if not params.get("q"):
            raise BadRequest("a saved query needs a query (q)")
        if len(name) > MAX_NAME:
            raise BadRequest(f"the name is too long (at most {MAX_NAME} characters)")
        saved = {
            "id": secrets.token_urlsafe(6),
            "name": name,
            "params": params,
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        }
        with self._lock:
            everyone = self._load()
            mine = everyone.setdefault(user, [])
            if len(mine) >= MAX_PER_USER:
                raise BadRequest(f"at most {MAX_PER_USER} saved queries; delete one first")
            mine.append(saved)
            self._write(everyone)
        return saved

    def delete(self, user: str, query_id: str) -> None:
        with self._lock:
            everyone = self._load()
            mine = everyone.get(user, [])
            kept = [saved for saved in mine if saved["id"] != query_id]
            if len(kept) == len(mine):
                raise NotFound(f"no saved query {query_id!r}")
            everyone[user] = kept
            self._write(everyone)

    def _write(self, everyone: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"version": 1, "users": everyone})
