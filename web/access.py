"""The web access log: one line per request on the `callscope.web.access` logger, formatted
by the entry point's handlers like every other line (callscope/logs.py).

    GET /calls/0412-billing-003 200 12.4 ms supervisor

Method, path, status, duration in milliseconds and the signed-in user's name (`-` for none).
The query string is never logged (searches and call links may hold phone numbers), nor the
client's address, cookies or headers. Characters that are not printable are written as
escapes, so a path cannot forge a line. The same fields go with the record (`method`, `path`,
`status`, `duration_ms`, `user`) for a structured format.
"""

from __future__ import annotations

from callscope.core.logs import get_logger

logger = get_logger(__name__)

MAX_PATH = 300  # characters of a path logged; a longer one is cut and marked with ...


def log_request(scope, status: int, seconds: float) -> None:
    user = getattr(scope.get("state", {}).get("user"), "name", None) or "-"
    method = printable(scope.get("method", "-"))[:16]
    path = printable(scope.get("path", ""))
    if len(path) > MAX_PATH:
        path = path[:MAX_PATH] + "..."
    duration_ms = round(seconds * 1000, 1)
    logger.info(
        "%s %s %d %.1f ms %s",
        method,
        path,
        status,
        duration_ms,
        user,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "user": user,
        },
    )


def printable(text: str) -> str:
    """`text` with spaces, control and other unprintable characters escaped (\\x20, \\u2028)."""
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char.isprintable() and char != " ":
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
