"""The FastAPI app: `create_app(settings, warehouse_path)`.

Pages are rendered on the server (Jinja2, plain HTML, one small script); the JSON API under
/api answers the same questions. Every route but sign-in, /healthz and /static needs a session:
pages redirect to the sign-in form, the API answers 401. Every response, errors included,
carries a strict Content-Security-Policy (the app loads nothing from anywhere else; uvicorn's
own 400 for a request it cannot parse too, under `callscope serve`: web/server.py), and every
redirect is a path of this site, never built from the Host header. No request body is read past
MAX_REQUEST_BODY, signed in or not (413, before any route). Pages are in the user's language
with times in the configured zone (web/i18n.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import mimetypes
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.support import NullTranslations
from callscope.core.config import Settings
from callscope.core.errors import PartitionUnreadable
from callscope.core.logs import get_logger
from callscope.keywords.rules import RuleError, load_rules
from callscope.web import i18n
from callscope.web.auth import (
    SESSIONS_FILE,
    USERS_FILE,
    LoginThrottle,
    Session,
    SessionSigner,
    SessionStore,
    StoreUnreadable,
    User,
    UserStore,
    secret_from_env,
)
from callscope.web.data import WarehouseView
from callscope.web.errors import NotSignedIn, TooMany, WebError, without_paths
from callscope.web.metrics import RequestMetrics, WebMetrics, metrics_token
from callscope.web.pressure import HashingGate, SearchTurns
from callscope.web.saved import SavedQueries
from callscope.web.services import Context, warm_overview
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

logger = get_logger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
# Apache ECharts, copied here by `make install` from the npm registry (web/package.json);
# without it the pages show every chart's numbers as a table instead
ECHARTS = "vendor/echarts.min.js"
SESSION_COOKIE = "callscope_session"
LOGIN_COOKIE = "callscope_login"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
HOME = {"supervisor": "/overview", "analyst": "/overview", "marketing": "/incidents"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# bytes: no request body is read past this, before any route; above every route's own limit
# (forms 4 KiB, a saved query's JSON 16 KiB), which then answers with its own message
MAX_REQUEST_BODY = 65_536


def create_app(
    settings: Settings,
    warehouse_path: Path | None = None,
    recordings: Path | None = None,
    secret: bytes | None = None,
) -> FastAPI:
    """The web app over `warehouse_path` (default: the settings' warehouse). The session
    secret comes from $CALLSCOPE_SECRET_KEY unless given (tests)."""
    if warehouse_path is not None:
        settings = settings.model_copy(update={"warehouse": Path(warehouse_path)})
    if secret is None:
        secret, from_env = secret_from_env()
        if not from_env:
            logger.warning(
                "neither CALLSCOPE_SECRET_KEY nor CALLSCOPE_SECRET_KEY_FILE is set: using a "
                "random session secret, so sign-ins end when the server restarts"
            )
    users = UserStore(settings.web_dir / USERS_FILE)
    web_metrics = WebMetrics()
    ctx = Context(
        settings=settings,
        view=WarehouseView(settings.warehouse, recordings or settings.recordings),
        users=users,
        signer=SessionSigner(secret, settings.web.session_hours * 3600),
        throttle=LoginThrottle(
            settings.web.login_attempts,
            settings.web.login_client_attempts,
            settings.web.login_window_minutes * 60,
        ),
        saved=SavedQueries(settings.web_dir / "saved_queries.json", users),
        category_labels=_category_labels(settings),
        metrics=web_metrics,
    )
    app = FastAPI(
        title="callscope",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=_warm_at_start,
    )
    app.state.ctx = ctx
    app.state.metrics = web_metrics
    app.state.metrics_token = metrics_token()
    app.state.sessions = SessionStore(
        settings.web_dir / SESSIONS_FILE, settings.web.session_idle_minutes * 60
    )
    app.state.hashing = HashingGate(
        settings.web.login_hash_slots,
        settings.web.login_hash_queue,
        settings.web.login_hash_wait_s,
        settings.web.login_hashes_per_second,
    )
    app.state.searches = SearchTurns(
        settings.web.search_per_minute, settings.web.search_at_once, settings.web.search_wait_s
    )
    app.state.proxies = [
        ipaddress.ip_network(entry, strict=False) for entry in settings.web.trusted_proxies
    ]
    app.state.default_language = i18n.default_language(settings)
    app.state.presenters = {
        language: i18n.Presenter(
            language, ZoneInfo(settings.timezone), ctx.category_labels, settings.web.queue_names
        )
        for language in i18n.LANGUAGES
    }
    app.state.static = _static_files(STATIC_DIR)
    app.state.templates = _templates(app.state.presenters, app.state.static)
    _error_handlers(app)
    from callscope.web import api, metrics, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(metrics.router)
    app.add_middleware(BodyLimit, limit=MAX_REQUEST_BODY)
    app.add_middleware(SecurityHeaders)
    # outermost: every answer is timed and logged, those of the middleware above included
    app.add_middleware(RequestMetrics, metrics=web_metrics, access_log=settings.logging.access_log)
    return app


@asynccontextmanager
async def _warm_at_start(app: FastAPI) -> AsyncIterator[None]:
    """When the server starts: the overview's day summaries are summed in the background
    (web/overview.py Warmer); requests are served meanwhile."""
    app.state.warmer = warm_overview(app.state.ctx)
    yield


class SecurityHeaders:
    """Pure ASGI middleware: security headers, and no caching of pages or API answers. An
    unexpected error still answers with them: a whole plain 500, after which the connection
    stays open for the client's next request (uvicorn closes it on an error that reaches
    it); the error and its traceback go to the server's log here. An error once an answer has
    started goes on to uvicorn, which closes the connection: the answer cannot be finished.
    A client gone before its request body was read (uvicorn refused the rest of it, or the
    client hung up) is no error: there is nobody to answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = secure_headers(list(message.get("headers", [])))
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except ClientDisconnect:  # gone before its request was read: nobody to answer
            logger.debug("%s %s: the client went away", scope.get("method"), scope.get("path"))
        except Exception:
            if started:
                raise
            logger.exception("%s %s: unexpected error", scope.get("method"), scope.get("path"))
            await _internal_error(scope, with_headers)


class BodyTooLarge(Exception):
    """A request body grew past the limit while it was read."""


class BodyLimit:
    """Pure ASGI middleware: no route ever reads more than `limit` bytes of a request body,
    signed in or not. A Content-Length over the limit is answered 413 before any of the body
    is read; a body sent without one (chunked) is passed on up to the limit, then answered
    413. Everything here runs before any route, so before any form or JSON is parsed."""

    def __init__(self, app, limit: int = MAX_REQUEST_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = _content_length(scope)
        except ValueError:
            await _plain_error(scope, send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > self.limit:
            await _plain_error(scope, send, 413, self._message())
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope, receive, send):
        received, started = 0, False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await _plain_error(scope, send, 413, self._message())

    def _message(self) -> str:
        return f"the request body is too large (at most {self.limit} bytes)"


def _content_length(scope) -> int | None:
    """The declared body size (the largest, should a client send several); ValueError when
    one is not a whole number."""
    sizes = []
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            if not value.strip().isdigit():
                raise ValueError(f"Content-Length {value[:40]!r} is not a whole number")
            sizes.append(int(value))
    return max(sizes) if sizes else None


def secure_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers every answer carries (and no-store unless the
    answer says how it may be cached)."""
    names = {name.lower() for name, _ in headers}
    extra = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]
    if b"cache-control" not in names:
        extra.append((b"cache-control", b"no-store"))
    return headers + extra


async def _internal_error(scope, send) -> None:
    await _plain_error(scope, send, 500, "internal error: the server's log has the details")


async def _plain_error(scope, send, status: int, message: str) -> None:
    """An error answered from middleware, before any route: JSON under /api, text elsewhere.
    The connection is closed after it (a refused body may still be on its way)."""
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": message, "status": status}).encode()
        kind = b"application/json"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    if status != 500:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _category_labels(settings: Settings) -> dict[str, str]:
    try:
        rules = load_rules(settings.keywords.rules, settings.keywords.sounds_like)
    except (RuleError, OSError) as exc:
        logger.warning("category labels unavailable: %s", exc)
        return {}
    return {category.name: category.label or category.name for category in rules.categories}


def _templates(
    presenters: dict[str, i18n.Presenter], static: dict[str, tuple[bytes, str]]
) -> dict[str, Jinja2Templates]:
    """The pages' templates, one environment per language (its catalog installed)."""
    versions = {
        name: hashlib.sha256(content).hexdigest()[:10] for name, (content, _) in static.items()
    }
    return {
        language: _language_templates(presenter, versions)
        for language, presenter in presenters.items()
    }


def _language_templates(presenter: i18n.Presenter, versions: dict[str, str]) -> Jinja2Templates:
    from callscope.web import pages

    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(presenter.texts, newstyle=True)
    env.globals.update(
        static=lambda name: f"/static/{name}?v={versions[name]}",
        charts_drawn=ECHARTS in versions,
        lang=presenter.language,
        languages=i18n.NAMES,
        zone_note=presenter.zone_note,
        language_url=language_url,
    )
    env.filters.update(pages.FILTERS)
    env.filters.update(
        term=presenter.term,
        label=presenter.label,
        category=presenter.category,
        queue=presenter.queue,
        day=presenter.day,
        time_of_day=presenter.time,
        moment=presenter.moment,
    )
    return templates


def language_url(language: str, request: Request) -> str:
    """The language switch: back to this page in `language`."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/language/{language}?next={quote(here, safe='')}"


def _static_files(root: Path) -> dict[str, tuple[bytes, str]]:
    """Every static file (the vendored library's under vendor/), loaded once: a request names
    one of these or gets a 404 (no path is ever built from a request)."""
    files = {}
    for path in [*root.iterdir(), *(root / "vendor").glob("*")]:
        if path.is_file():
            kind = mimetypes.guess_type(path.name)[0] or "text/plain"
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), kind)
    return files


# sessions --------------------------------------------------------------------------------
def ctx_of(request: Request) -> Context:
    return request.app.state.ctx


def sessions_of(request: Request) -> SessionStore:
    return request.app.state.sessions


def current_user(request: Request) -> User | None:
    """The signed-in user, checked once per request: a live session whose user still has the
    record (password, role) it was started with. Any other cookie counts as none."""
    if getattr(request.state, "auth_checked", False):
        return getattr(request.state, "user", None)
    request.state.auth_checked = True
    found = _session_user(request)
    if found is None:
        return None
    request.state.session, request.state.user = found
    return found[1]


def _session_user(request: Request) -> tuple[Session, User] | None:
    ctx, sessions = ctx_of(request), sessions_of(request)
    sid = ctx.signer.unsign(request.cookies.get(SESSION_COOKIE))
    session = sessions.get(sid) if sid else None
    if session is None:
        return None
    user = ctx.users.get(session.name)
    if user is None or (user.role, user.stamp) != (session.role, session.stamp):
        sessions.end(session.sid)
        return None
    return session, user


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise NotSignedIn()
    return user


CurrentUser = Annotated[User, Depends(require_user)]


async def start_session(response: Response, request: Request, user: User) -> None:
    ctx = ctx_of(request)
    cookie, session = ctx.signer.issue(user)
    await run_in_threadpool(sessions_of(request).add, session)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(ctx.signer.lifetime_s),
        httponly=True,
        samesite="strict",
        secure=ctx.settings.web.secure_cookies,
        path="/",
    )


async def end_session(response: Response, request: Request) -> None:
    session = getattr(request.state, "session", None)
    if session is not None:
        await run_in_threadpool(sessions_of(request).end, session.sid)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=ctx_of(request).settings.web.secure_cookies,
    )


async def verify_password(request: Request, name: str, password: str) -> User | None:
    """The password check (scrypt) in a worker thread, through the server's hashing gate
    (web/pressure.py): the event loop goes on serving everyone else meanwhile, and a flood of
    sign-ins gets Busy (503) instead of the CPU."""
    gate: HashingGate = request.app.state.hashing
    return await gate.run(ctx_of(request).users.verify, name, password)


def search_turn(request: Request, user: User) -> AbstractContextManager[None]:
    """One search of `user` runs inside this block (web/pressure.py): TooMany (429 with
    Retry-After) past their searches per minute, or while their earlier one still runs."""
    turns: SearchTurns = request.app.state.searches
    return turns.turn(user.name)


def client_address(request: Request) -> str:
    """The client's address: the connection's, or when that is a trusted proxy
    (`web.trusted_proxies`), the nearest untrusted address in its X-Forwarded-For."""
    peer = request.client.host if request.client else "unknown"
    proxies = request.app.state.proxies
    if not _trusted(peer, proxies):
        return peer
    header = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer


def _trusted(address: str, proxies: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def language(request: Request) -> str:
    """The request's language: the user's pick (cookie), else the console's default."""
    found = getattr(request.state, "language", None)
    if found is None:
        found = i18n.language_of(request, request.app.state.default_language)
        request.state.language = found
    return found


def presenter(request: Request) -> i18n.Presenter:
    return request.app.state.presenters[language(request)]


def texts(request: Request) -> NullTranslations:
    """The request's messages: `texts(request).gettext("...")`."""
    return presenter(request).texts


def templates_of(request: Request) -> Jinja2Templates:
    return request.app.state.templates[language(request)]


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# errors ----------------------------------------------------------------------------------
def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError):
        if exc.public_message != exc.message:
            logger.error("%s %s: %s", request.method, request.url.path, exc.message)
        response = error_response(request, exc.status, exc.public_message)
        if isinstance(exc, TooMany):
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
        return response

    @app.exception_handler(PartitionUnreadable)
    async def unreadable(request: Request, exc: PartitionUnreadable):
        logger.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(request, 503, exc.public_message)

    @app.exception_handler(StoreUnreadable)
    async def store_unreadable(request: Request, exc: StoreUnreadable):
        logger.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(request, 503, exc.public_message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error_response(request, exc.status_code, _http_message(request, exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = [
            f"{'.'.join(str(p) for p in err['loc'][1:]) or err['loc'][0]}: {err['msg']}"
            for err in exc.errors()
        ]
        return error_response(request, 422, "; ".join(parts) or "invalid request")


def _http_message(request: Request, exc: StarletteHTTPException) -> str:
    """Starlette's own errors: the API answers in English, pages in the page's language."""
    known = {404: i18n.N_("no such page"), 405: i18n.N_("method not allowed")}.get(exc.status_code)
    if known is None:
        return str(exc.detail)
    return known if wants_json(request) else texts(request).gettext(known)


def error_response(request: Request, status: int, message: str) -> Response:
    """The error as JSON under /api, else a page (401: the sign-in form). A server fault's
    message (5xx) never names a server path, whoever asks: each handler gives a public
    message, and any path left in it is replaced here once more."""
    if status >= 500:
        message = without_paths(message)
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return templates_of(request).TemplateResponse(
        request,
        "error.html",
        {"user": _user_if_known(request), "status": status, "message": message, "page": "error"},
        status_code=status,
    )


def _user_if_known(request: Request) -> User | None:
    """For the error page's header; an error page never fails for want of a user."""
    try:
        return current_user(request)
    except StoreUnreadable:
        return None


def html(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf"] = session.csrf if session else ""
    return templates_of(request).TemplateResponse(request, name, context, status_code=status)
