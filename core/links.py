"""Addresses of the console's pages, for the console itself and for texts that point into it
(the marketing hand-off's examples)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode


def call_url(call_id: str, date: str | dt.date | None, t: float | None = None, **extra) -> str:
    """The call page, at second `t` of the call: /calls/<id>?date=...&t=..."""
    query = {"date": str(date) if date else None, "t": None if t is None else round(t, 2)}
    query |= extra
    pairs = {key: value for key, value in query.items() if value is not None}
    return f"/calls/{quote(call_id, safe='')}" + (f"?{urlencode(pairs)}" if pairs else "")
