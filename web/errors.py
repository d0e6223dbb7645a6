"""The web app's errors: each one is an HTTP status with a message a person can act on."""

from __future__ import annotations

import re

_PART = r"[^\s'\"`()\[\]{},;]"
# An absolute POSIX or Windows path, with the words after a space that still hold a slash.
_PATH = re.compile(rf"(?<![\w.:/\\])(?:[A-Za-z]:)?[/\\]{_PART}*(?:\s+{_PART}*[/\\]{_PART}*)*")


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
    return _PATH.sub("(a file on the server)", message)


class TooMany(WebError):
    """More requests than a limit allows; answered with Retry-After: `retry_after_s`."""

    status = 429

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Busy(TooMany):
    """The server does as much of this work as it allows itself at once: try again soon."""

    status = 503
