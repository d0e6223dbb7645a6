"""The web app's errors: each one is an HTTP status with a message a person can act on."""

from __future__ import annotations


class WebError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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
    status = 503
