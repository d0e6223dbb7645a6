"""The JSON API: the same answers as the pages. Errors are `{"error": message, "status": n}`:
400 bad parameters, 401 not signed in, 403 not for this role (or a missing CSRF token), 404
unknown call / saved query, 429 (with Retry-After) past the user's searches per minute or
while their earlier search still runs, 503 warehouse or index not readable."""

from __future__ import annotations

import hmac
import json
from contextlib import ExitStack
from itertools import chain
from typing import Annotated
from zoneinfo import ZoneInfo

from callscope.core.logs import get_logger
from callscope.web import export, services
from callscope.web import params as P
from callscope.web.app import CurrentUser, client_address, ctx_of, language, search_turn
from callscope.web.auth import User
from callscope.web.data import AUDIO_TYPES
from callscope.web.errors import BadRequest, Forbidden
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

logger = get_logger(__name__)

router = APIRouter(prefix="/api")
MAX_BODY = 16_384


def require_csrf(request: Request, user: CurrentUser) -> User:
    """State-changing requests carry the session's token in X-CSRF-Token (the session cookie
    is also SameSite=Strict)."""
    token = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(token.encode(), request.state.session.csrf.encode()):
        raise Forbidden("missing or wrong X-CSRF-Token header; reload the page")
    return user


CsrfUser = Annotated[User, Depends(require_csrf)]


@router.get("/me")
def me(request: Request, user: CurrentUser) -> dict:
    session = request.state.session
    return {
        "name": user.name,
        "role": user.role,
        "audio": user.hears_audio,
        "redacted": not user.sees_personal_data,
        "expires": int(session.expires),
        "csrf": session.csrf,
    }


@router.get("/search")
def search(request: Request, user: CurrentUser) -> dict:
    ctx = ctx_of(request)
    sp = P.search_params(request.query_params, ctx.settings.web.page_size)
    with search_turn(request, user):
        return services.search(ctx, user, sp)


@router.get("/facets")
def facets(request: Request, user: CurrentUser) -> dict:
    return services.facets(ctx_of(request), user)


@router.get("/calls")
def day_calls(request: Request, user: CurrentUser) -> dict:
    return services.day_calls(ctx_of(request), user, request.query_params)


@router.get("/agents/{agent_id}/calls")
def agent_calls(agent_id: str, request: Request, user: CurrentUser) -> dict:
    return services.agent_calls(ctx_of(request), user, agent_id, request.query_params)


@router.get("/calls/{call_id}")
def call(call_id: str, request: Request, user: CurrentUser) -> dict:
    hint = P.date(request.query_params, "date")
    query = request.query_params.get("q") or None  # the search's terms, marked in the segments
    return services.call_detail(ctx_of(request), user, call_id, hint, query)


@router.get("/calls/{call_id}/audio")
def audio(call_id: str, request: Request, user: CurrentUser) -> Response:
    """The recording, by call id only; range requests answer 206 with those bytes."""
    hint = P.date(request.query_params, "date")
    path = services.audio_file(ctx_of(request), user, call_id, hint)
    return FileResponse(
        path,
        media_type=AUDIO_TYPES[path.suffix.lower()],
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/trends")
def trends(request: Request, user: CurrentUser) -> dict:
    return services.trends(ctx_of(request), user, request.query_params)


@router.get("/trends/calls")
def trend_calls(request: Request, user: CurrentUser) -> dict:
    return services.trend_calls(ctx_of(request), user, request.query_params)


@router.get("/trends/chart.png")
def trend_chart(request: Request, user: CurrentUser) -> Response:
    png = services.trend_chart_png(ctx_of(request), user, request.query_params)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/incidents")
def incidents(request: Request, user: CurrentUser) -> dict:
    return services.incidents(ctx_of(request), user, request.query_params)


@router.get("/saved")
def saved_list(request: Request, user: CurrentUser) -> list[dict]:
    return services.saved_list(ctx_of(request), user)


@router.post("/saved", status_code=201)
async def saved_add(request: Request, user: CsrfUser) -> dict:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest(f"the request body is too large (at most {MAX_BODY} bytes)")
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    return services.save_query(ctx_of(request), user, data)


@router.delete("/saved/{query_id}", status_code=204)
def saved_delete(query_id: str, request: Request, user: CsrfUser) -> Response:
    ctx_of(request).saved.delete(user, query_id)
    return Response(status_code=204)


@router.get("/saved/{query_id}/calls")
def saved_calls(query_id: str, request: Request, user: CurrentUser) -> dict:
    with search_turn(request, user):
        return services.saved_matches(ctx_of(request), user, query_id, request.query_params)


@router.get("/export/{name}")
def export_file(name: str, request: Request, user: CurrentUser) -> Response:
    """<kind>.csv or <kind>.xlsx (web/export.py): the JSON API's rows for the same
    parameters, all of them up to web.export_max_rows; recorded in the export log first."""
    kind, fmt = export.split_name(name)
    ctx = ctx_of(request)
    with ExitStack() as held:
        if kind == "search":  # an export is one search of its user until it is written
            held.enter_context(search_turn(request, user))
        sheet = export.sheet(kind, ctx, user, request.query_params, language(request))
        export.audit(ctx, user, sheet, fmt, request.query_params, client_address(request))
        headers = _export_headers(sheet, fmt)
        tz = ZoneInfo(ctx.settings.timezone)
        if fmt == "csv":
            chunks = export.csv_chunks(sheet, tz, held.pop_all().close)
            chunks = chain([next(chunks)], chunks)  # started: its end releases the turn
        else:
            chunks = export.file_chunks(export.xlsx_file(sheet, tz))
        return StreamingResponse(chunks, media_type=export.FORMATS[fmt], headers=headers)


def _export_headers(sheet: export.Sheet, fmt: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{export.file_name(sheet, fmt)}"',
        "X-Callscope-Truncated": "true" if sheet.truncated else "false",
        "X-Callscope-Rows": str(sheet.written),
        "X-Callscope-Total": str(sheet.total),
    }


@router.get("/exports")
def export_log(request: Request, user: CurrentUser) -> list[dict]:
    """The export log, newest first: `limit` entries (default 100), of one `user` if named."""
    if user.role != "supervisor":
        raise Forbidden(f"the export log is for supervisors, not the {user.role} role")
    params = request.query_params
    limit = P.integer(params, "limit", 100, 1, 10_000)
    return export.log_of(ctx_of(request)).recent(limit, P.one(params, "user"))


@router.get("/overview")
def overview(request: Request, user: CurrentUser) -> dict:
    return services.overview(ctx_of(request), user, request.query_params)


@router.get("/agents/{agent_id}/figures")
def agent_figures(agent_id: str, request: Request, user: CurrentUser) -> dict:
    return services.agent_view(ctx_of(request), user, agent_id, request.query_params)
