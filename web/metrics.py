"""The web app's Prometheus figures, served at /metrics in the Prometheus text format.

- Request latency by route template (`/calls/{call_id}`, never the path asked for: no call
  id, agent id or query string reaches a label), method and status class (2xx ... 5xx).
- Sign-ins: successes, failures (wrong name or password) and throttled attempts by reason
  (too many attempts from one client, or too many password checks at once on the server).
- Search latency: the index's answer for one page of hits (search page, API, exports).
- The usual process figures (CPU, memory, open files, garbage collection).

Who may read /metrics: with $CALLSCOPE_METRICS_TOKEN (or $CALLSCOPE_METRICS_TOKEN_FILE) set,
a request carrying `Authorization: Bearer <token>`, from anywhere; without it, only a direct connection from
this host's loopback address that no proxy forwarded (no X-Forwarded-For or Forwarded
header), so that a reverse proxy on the same host does not publish it. The figures hold no
personal data either way: no user names, no paths, no queries.

Each server process counts its own requests (`callscope serve` runs one process).
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from callscope.core.secrets import check_secret, read_secret
from callscope.web.access import log_request
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

METRICS_TOKEN_ENV = "CALLSCOPE_METRICS_TOKEN"
METRICS_TOKEN_MIN = 16  # characters
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route took the request (404, or refused before routing)
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
SEARCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
THROTTLE_REASONS = ("too_many_attempts", "busy")

router = APIRouter()


class WebMetrics:
    """The figures of one app, in a registry of its own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Histogram(
            "callscope_web_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer, by route template, "
            "method and status class",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.sign_ins = Counter(
            "callscope_web_sign_ins", "Successful sign-ins", registry=self.registry
        )
        self.sign_in_failures = Counter(
            "callscope_web_sign_in_failures",
            "Sign-ins refused for a wrong name or password",
            registry=self.registry,
        )
        self.sign_in_throttles = Counter(
            "callscope_web_sign_in_throttles",
            "Sign-ins refused before any password check: too_many_attempts (429, per client "
            "and name) or busy (503, too many password checks at once on this server)",
            ("reason",),
            registry=self.registry,
        )
        for reason in THROTTLE_REASONS:
            self.sign_in_throttles.labels(reason)
        self.searches = Histogram(
            "callscope_web_search_duration_seconds",
            "Seconds the search index took to answer one page of hits (search page, API, exports)",
            buckets=SEARCH_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, f"{status // 100}xx").observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_token() -> str | None:
    """$CALLSCOPE_METRICS_TOKEN, or the file $CALLSCOPE_METRICS_TOKEN_FILE names; None when
    neither is set. A placeholder or a short token stops the app (SecretError)."""
    token = read_secret(METRICS_TOKEN_ENV)
    return None if token is None else check_secret(METRICS_TOKEN_ENV, token, METRICS_TOKEN_MIN)


def route_of(scope) -> str:
    """The template of the route that took the request, never the path asked for."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware, outside all others: each request's latency into `metrics` and,
    when `access_log`, its line in the access log (web/access.py)."""

    def __init__(self, app, metrics: WebMetrics, access_log: bool):
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # where the routes leave the signed-in user
        started, status = time.perf_counter(), 500

        async def tracked(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request(route_of(scope), scope["method"], status, seconds)
            if self.access_log:
                log_request(scope, status, seconds)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """The figures for Prometheus (see the module's note on who may read them)."""
    token: str | None = request.app.state.metrics_token
    if token and not _bearer_matches(request, token):
        return PlainTextResponse(
            "a bearer token is required", 401, headers={"WWW-Authenticate": "Bearer"}
        )
    if not token and not _direct_from_loopback(request):
        return PlainTextResponse("metrics are served on the loopback address only", 403)
    web_metrics: WebMetrics = request.app.state.metrics
    return Response(web_metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _direct_from_loopback(request: Request) -> bool:
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host if request.client else "").is_loopback
    except ValueError:
        return False
