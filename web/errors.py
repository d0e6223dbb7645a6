"""The web app's errors: each one is an HTTP status with a message a person can act on."""

from __future__ import annotations

import re

_PART = r"[^\s'\"`()\[\]{},;<>]"
_START = r"(?<![^\s'\"`(\[{,;=<>])"  # at the start of the message or of a word
# The files the server keeps (and their SQLite companions), named without a folder.
_FILES = (
    r"sqlite|db|parquet|json|jsonl|csv|yaml|yml|toml|lock|tmp|log|pid|flac|wav|mp3|ogg|opus|m4a"
)
# A path: a word holding a slash or backslash (absolute, relative, ./ ../ ~/, C:\, a URL),
# with the words after a space that still hold one; or a file name of the server's kinds.
_PATH = re.compile(
    rf"{_START}{_PART}*[/\\]{_PART}*(?:\s+{_PART}*[/\\]{_PART}*)*"
    rf"|{_START}{_PART}*\.(?:{_FILES})(?:-wal|-shm|-journal)?(?![\w-])",
    re.IGNORECASE,
)


class WebError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @property
    def public_message(self) -> str:
        """What the browser is shown; the full message goes to the log."""
        return self.message


class BadRequest(WebError):
    status = 400


class NotSignedIn(WebError):
    status = 401

    def __init__(self, message: str = "sign in first"):
        super().__init__(message)


class Forbidden(WebError):
    status = 403


class NotFound(WebError):
    status = 404


class Unavailable(WebError):
    """Data on the server cannot be read; no role sees the server's file paths."""

    status = 503

    @property
    def public_message(self) -> str:
        return without_paths(self.message)


def without_paths(message: str) -> str:
    """The message with every server path in it, absolute or relative, and every file name
    of the kinds the server keeps, replaced: what a browser may be shown of a server fault.
    A bare folder name without a slash reads like any other word and stays."""
    return _PATH.sub("(a path on the server)", message)


class TooMany(WebError):
    """More requests than a limit allows; answered with Retry-After: `retry_after_s`."""

    status = 429

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Busy(TooMany):
    """The server does as much of this work as it allows itself at once: try again soon."""

    status = 503
