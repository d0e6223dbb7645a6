"""The HTML pages: sign-in, search, saved queries, a call, trends, incidents; the language
switch. Every message here is in the page's language (web/i18n.py)."""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import parse_qs, urlencode

from callscope.core.logs import get_logger
from callscope.web import charts, i18n, services
from callscope.web import params as P
from callscope.web.app import (
    HOME,
    LOGIN_COOKIE,
    CurrentUser,
    client_address,
    ctx_of,
    current_user,
    end_session,
    html,
    presenter,
    search_turn,
    start_session,
    texts,
    verify_password,
)
from callscope.web.errors import BadRequest, Busy, Forbidden, NotFound, TooMany
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

logger = get_logger(__name__)

router = APIRouter()
MAX_FORM = 4096
LANGUAGE_COOKIE_DAYS = 365


# template filters ------------------------------------------------------------------------
def marked(text: str, spans) -> Markup:
    """The text with its matches in <mark>, everything escaped."""
    out, pos = [], 0
    for start, end in spans or []:
        out += [escape(text[pos:start]), Markup("<mark>"), escape(text[start:end])]
        out.append(Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def clock(seconds) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def signed(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def seconds(value) -> str:
    """A short duration such as a call's overtalk: 0.6 s (clock would show 00:00)."""
    return "-" if value is None else f"{value:.1f} s"


FILTERS = {
    "marked": marked,
    "clock": clock,
    "seconds": seconds,
    "signed": signed,
    "percent": percent,
}


# sign-in ---------------------------------------------------------------------------------
@router.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


@router.get("/static/{name:path}")
def static(name: str, request: Request) -> Response:
    found = request.app.state.static.get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    content, kind = found
    return Response(content, media_type=kind, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/language/{language}")
def switch_language(language: str, request: Request, next: str = "") -> Response:
    """The switch in the page header: this browser's pages in `language` from now on (a
    cookie), back to the page it came from."""
    if language not in i18n.LANGUAGES:
        raise NotFound(texts(request).gettext("no such language"))
    response = RedirectResponse(_safe_next(next) or "/", status_code=303)
    response.set_cookie(
        i18n.LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_DAYS * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=ctx_of(request).settings.web.secure_cookies,
        path="/",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    user = current_user(request)
    if user is not None:
        return RedirectResponse(_safe_next(next) or HOME[user.role], status_code=303)
    return _login_page(request, next)


def _login_page(request: Request, next_url: str, error: str = "", status: int = 200):
    ctx = ctx_of(request)
    token = ctx.signer.unsign(request.cookies.get(LOGIN_COOKIE)) or secrets.token_urlsafe(24)
    response = html(
        request, "login.html", status, login_csrf=token, next=_safe_next(next_url), error=error
    )
    response.set_cookie(
        LOGIN_COOKIE,
        ctx.signer.sign(token),
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=ctx.settings.web.secure_cookies,
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign-in: limited per client and per name from that client (429 with Retry-After);
    the password is checked off the event loop, through the server's hashing gate (503 with
    Retry-After when it is full)."""
    ctx, _ = ctx_of(request), texts(request).gettext
    form = await _form(request)
    name, password, next_url = form.get("name", ""), form.get("password", ""), form.get("next", "")
    expected = ctx.signer.unsign(request.cookies.get(LOGIN_COOKIE)) or ""
    if not expected or not _same(expected, form.get("csrf", "")):
        return _login_page(request, next_url, _("The form expired: try again."), 400)
    client = client_address(request)
    wait = ctx.throttle.attempt(name, client)
    if wait:
        ctx.metrics.sign_in_throttles.labels("too_many_attempts").inc()
        logger.warning("sign-in refused for %r from %s: too many attempts", name[:64], client)
        return _too_many(request, next_url, wait)
    try:
        user = await verify_password(request, name, password) if name and password else None
    except Busy as exc:
        ctx.metrics.sign_in_throttles.labels("busy").inc()
        return _busy(request, next_url, exc)
    if user is None:
        ctx.metrics.sign_in_failures.inc()
        ctx.throttle.failed(name, client)
        logger.info("failed sign-in for %r from %s", name[:64], client)
        return _login_page(request, next_url, _("Wrong name or password."), 401)
    ctx.throttle.succeeded(name, client)
    ctx.metrics.sign_ins.inc()
    logger.info("%s (%s) signed in from %s", user.name, user.role, client)
    response = RedirectResponse(_safe_next(next_url) or HOME[user.role], 303)
    await start_session(response, request, user)
    response.delete_cookie(LOGIN_COOKIE)
    return response


def _too_many(request: Request, next_url: str, wait_s: float) -> Response:
    seconds, tr = math.ceil(wait_s), texts(request)
    if seconds > 90:
        minutes = math.ceil(seconds / 60)
        message = tr.ngettext(
            "Too many sign-in attempts from here: try again in %(n)d minute.",
            "Too many sign-in attempts from here: try again in %(n)d minutes.",
            minutes,
        ) % {"n": minutes}
    else:
        message = tr.ngettext(
            "Too many sign-in attempts from here: try again in %(n)d second.",
            "Too many sign-in attempts from here: try again in %(n)d seconds.",
            seconds,
        ) % {"n": seconds}
    response = _login_page(request, next_url, message, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _busy(request: Request, next_url: str, exc: Busy) -> Response:
    """Too many sign-ins at once on this server: the form again, 503 with Retry-After."""
    response = _login_page(request, next_url, exc.message, exc.status)
    response.headers["Retry-After"] = str(math.ceil(exc.retry_after_s))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    user = await run_in_threadpool(current_user, request)
    response = RedirectResponse("/login", status_code=303)
    if user is not None:
        if not _same(form.get("csrf", ""), request.state.session.csrf):
            raise Forbidden(texts(request).gettext("the sign-out form expired; reload the page"))
        logger.info("%s signed out", user.name)
    await end_session(response, request)
    return response


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (small; the app takes no uploads)."""
    body, _ = await request.body(), texts(request).gettext
    if len(body) > MAX_FORM:
        raise BadRequest(_("the form is too large"))
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(_("the form could not be read")) from None
    return {key: values[0] for key, values in fields.items()}


def _safe_next(url: str | None) -> str:
    """Only a path of this site (never //host, a scheme, or characters browsers drop)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return ""
    return url if url.isprintable() else ""


# pages -----------------------------------------------------------------------------------
@router.get("/")
def home(user: CurrentUser) -> Response:
    """Supervisors and analysts land on the overview, marketing on its role's page."""
    target = "/overview" if user.sees_floor else HOME[user.role]
    return RedirectResponse(target, status_code=303)


@router.get("/search")
def search_page(request: Request, user: CurrentUser) -> Response:
    ctx = ctx_of(request)
    result, error, status, retry_after = None, "", 200, None
    try:
        sp = P.search_params(request.query_params, ctx.settings.web.page_size)
        if sp.query:
            with search_turn(request, user):
                result = services.search(ctx, user, sp)
    except (BadRequest, Forbidden, TooMany) as exc:
        sp, error, status = (
            P.SearchParams(query=P.one(request.query_params, "q")),
            exc.message,
            exc.status,
        )
        retry_after = getattr(exc, "retry_after_s", None)
    response = html(
        request,
        "search.html",
        status,
        page="search",
        sp=sp,
        result=result,
        error=error,
        facets=services.facets(ctx, user),
        saved=services.saved_list(ctx, user),
        saved_params=sp.as_query(),
        page_url=lambda n: "/search?" + urlencode({**sp.as_query(), "page": n}, doseq=True),
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


@router.get("/saved/{query_id}")
def saved_page(query_id: str, request: Request, user: CurrentUser) -> Response:
    with search_turn(request, user):
        data = services.saved_matches(ctx_of(request), user, query_id, request.query_params)
    return html(
        request,
        "saved.html",
        page="search",
        data=data,
        chart=charts.day_counts(data["days"]),
        saved=services.saved_list(ctx_of(request), user),
    )


@router.get("/calls/{call_id}")
def call_page(call_id: str, request: Request, user: CurrentUser) -> Response:
    q = request.query_params
    query = (q.get("q") or "").strip() or None
    data = services.call_detail(ctx_of(request), user, call_id, P.date(q, "date"), query)
    start = P.number(q, "t", 0, 24 * 3600) or 0.0
    seg = P.integer(q, "seg", -1, -1, 1_000_000)
    chart = charts.call_sentiment_chart(data["timeline"])
    return html(
        request,
        "call.html",
        page="call",
        data=data,
        t=start,
        seg=seg,
        chart=chart,
        rows=charts.turn_rows(chart) if chart else [],
    )


@router.get("/trends")
def trends_page(request: Request, user: CurrentUser) -> Response:
    data = services.trends(ctx_of(request), user, request.query_params)
    shown = presenter(request)
    label = _trend_label(shown, data["role"], data["by"])
    return html(
        request,
        "trends.html",
        page="trends",
        data=data,
        chart=charts.trend_chart(_trend_rows_shown(shown, data), label),
    )


def _trend_label(shown: i18n.Presenter, role: str, by: str) -> str:
    _ = shown.texts.gettext
    if role == "customer":
        text = _("Customer sentiment by %(by)s")
    else:
        text = _("Agent sentiment by %(by)s")
    return text % {"by": shown.term(by)}


def _trend_rows_shown(shown: i18n.Presenter, data: dict) -> list[dict]:
    """The chart's rows, a category's or a queue's id as its name (the rows' links stay as
    they are)."""
    name = {"category": shown.category, "queue": shown.queue}.get(data["by"])
    if name is None:
        return data["rows"]
    return [row | {"key": name(row["key"])} for row in data["rows"]]


@router.get("/trends/calls")
def trend_calls_page(request: Request, user: CurrentUser) -> Response:
    data = services.trend_calls(ctx_of(request), user, request.query_params)
    return html(request, "trend_calls.html", page="trends", data=data)


@router.get("/incidents")
def incidents_page(request: Request, user: CurrentUser) -> Response:
    data = services.incidents(ctx_of(request), user, request.query_params)
    shown = presenter(request)
    data["rows"] = [_incident_shown(shown, row) for row in data["rows"]]
    return html(
        request,
        "incidents.html",
        page="incidents",
        data=data,
        chart=charts.incident_chart(data["rows"]),
    )


def _incident_shown(shown: i18n.Presenter, row: dict) -> dict:
    """A category's bilingual label in the page's language; a topic's words stay."""
    if row.get("kind") != "category":
        return row
    return row | {"label": shown.label(row.get("label"))}


# overview, agent view, a day's calls ---------------------------------------------------------
FIGURE_CHARTS = ("calls", "handle_s", "silence", "overtalk_s", "sentiment", "escalation_share")


def _figure_text(shown: i18n.Presenter, measure: str):
    """How a figure's values read in a chart's tips and axis."""
    if measure in ("silence", "escalation_share"):
        return percent
    if measure in ("handle_s", "overtalk_s"):
        return clock
    if measure.startswith("sentiment"):
        return lambda value: signed(value, 2)
    return lambda value: f"{value:.0f}" if measure == "calls" else f"{value:.1f}"


def _figure_charts(request: Request, data: dict, measures, compare=None, marked=frozenset()):
    """Each figure's chart data (web/charts.py); with `compare`, the lines are named the
    agent's and the queue's."""
    shown = presenter(request)
    names = figure_names(shown)
    _ = shown.texts.gettext
    lines = (_("agent"), _("queue")) if compare else None
    return {
        measure: charts.figure_chart(
            data["days"], measure, names[measure], _figure_text(shown, measure), marked, compare,
            lines,
        )
        for measure in measures
    }  # fmt: skip


def figure_names(shown: i18n.Presenter) -> dict[str, str]:
    _ = shown.texts.gettext
    return {
        "calls": _("Calls"),
        "handle_s": _("Mean handle time"),
        "silence": _("Silence (share of the call)"),
        "overtalk_s": _("Mean overtalk"),
        "interruptions": _("Agent interruptions a call"),
        "sentiment": _("Customer sentiment"),
        "escalation_share": _("Escalation risk (share of calls)"),
    }


@router.get("/overview")
def overview_page(request: Request, user: CurrentUser) -> Response:
    data = services.overview(ctx_of(request), user, request.query_params)
    marked = frozenset([data["to"]] if data["spikes"] else [])
    return html(
        request,
        "overview.html",
        page="overview",
        data=data,
        charts=_figure_charts(request, data, FIGURE_CHARTS, marked=marked),
        names=figure_names(presenter(request)),
    )


@router.get("/agents/{agent_id}")
def agent_page(agent_id: str, request: Request, user: CurrentUser) -> Response:
    data = services.agent_view(ctx_of(request), user, agent_id, request.query_params)
    measures = ("calls", "handle_s", "silence", "overtalk_s", "interruptions", "sentiment")
    return html(
        request,
        "agent.html",
        page="overview",
        data=data,
        charts=_figure_charts(request, data, measures, compare=data["queue_days"]),
        names=figure_names(presenter(request)),
    )


@router.get("/calls")
def calls_page(request: Request, user: CurrentUser) -> Response:
    """A day's calls with the overview's filters (queue, category, agent)."""
    data = services.day_calls(ctx_of(request), user, request.query_params)
    q = request.query_params
    filters = {name: P.many(q, name) for name in ("queue", "category", "agent")}
    base = [(k, v) for k, v in q.multi_items() if k != "page"]
    return html(
        request,
        "calls.html",
        page="overview",
        data=data,
        filters=filters,
        page_url=lambda n: "/calls?" + urlencode([*base, ("page", n)]),
    )
