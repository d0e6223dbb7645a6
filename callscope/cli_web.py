"""`callscope serve` and `callscope users ...`: the web app and who may sign in to it.

`register(app)` adds the commands; callscope.cli imports this module after its shared
options and helpers are defined.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from callscope.cli import ConfigOpt, JsonOpt, WarehouseOpt, _commands, _fail, _settings
from callscope.core.logs import get_logger

DEMO_PASSWORD_ENV = "CALLSCOPE_DEMO_PASSWORD"

logger = get_logger(__name__)

users_app = _commands(
    help="Who may sign in to the web app (roles: supervisor, analyst, marketing).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    users_app.command("add")(users_add)
    users_app.command("list")(users_list)
    users_app.command("remove")(users_remove)
    users_app.command("demo")(users_demo)


def serve(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="default: web.host")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535)] = None,
    recordings: Annotated[
        Path | None,
        typer.Option("--recordings", help="recordings root, when the audio moved since the night"),
    ] = None,
) -> None:
    """Serve the web app over the warehouse: search, calls with audio, trends, incidents.
    Session cookies are signed with $CALLSCOPE_SECRET_KEY (a random key when unset)."""
    from callscope.core.secrets import SecretError
    from callscope.web.app import create_app
    from callscope.web.auth import AuthError
    from callscope.web.server import serve as serve_app

    settings = _settings(config, warehouse=warehouse, recordings=recordings)
    if not settings.web_dir.parent.is_dir():  # the web app's files need a local folder
        _fail(f"no warehouse at {settings.warehouse}; run `callscope nightly` first")
    try:
        app = create_app(settings)
        users = app.state.ctx.users.users()
    except (AuthError, SecretError) as exc:
        _fail(str(exc))
    if not users:
        typer.secho(
            "note: nobody can sign in yet: `callscope users add NAME --role supervisor` "
            "(or `callscope users demo`)",
            fg="yellow",
            err=True,
        )
    bind_host, bind_port = host or settings.web.host, port or settings.web.port
    typer.echo(f"callscope web app on http://{bind_host}:{bind_port}/ ({settings.warehouse})")
    typer.echo(_observability_line(app.state.metrics_token, settings.logging.access_log))
    # uvicorn with the security headers on its own 400 and a time limit on request heads; its
    # own access log stays off (the app logs each request without its query string)
    serve_app(app, bind_host, bind_port, settings.web.request_head_timeout_s)


def _observability_line(metrics_token: str | None, access_log: bool) -> str:
    if metrics_token:
        readers = "readable with the bearer token ($CALLSCOPE_METRICS_TOKEN)"
    else:
        readers = "readable from this host's loopback address only"
    return f"/metrics {readers}; access log {'on' if access_log else 'off'}"


def _store(config: Path | None, warehouse: str | None):
    from callscope.web.auth import USERS_FILE, UserStore

    settings = _settings(config, warehouse=warehouse)
    return UserStore(settings.web_dir / USERS_FILE)


def _end_sessions(users_file: Path, name: str) -> int:
    """End `name`'s sessions in the sessions file beside the users file, when there is one
    (the server also checks each session against the user's record)."""
    from callscope.web.auth import SESSIONS_FILE, SessionStore, StoreUnreadable

    path = users_file.with_name(SESSIONS_FILE)
    if not path.is_file():
        return 0
    try:
        return SessionStore(path).end_user(name)
    except StoreUnreadable as exc:
        _fail(str(exc))


def _password(env: str | None) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            _fail(f"${env} is not set")
        return value
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def users_add(
    name: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Option("--role", help="supervisor | analyst | marketing")],
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="read the password from this environment variable"),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="set a new password / role")] = False,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Add a web user (the password is prompted for, or read from --password-env VAR)."""
    from callscope.web.auth import AuthError, check_new_user

    store = _store(config, warehouse)
    try:
        check_new_user(name, role, "x" * 64)  # name and role first, before asking
        store.add(name, role, _password(password_env), replace=replace)
    except AuthError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {store.path}: {exc.strerror or exc}")
    ended = _end_sessions(store.path, name)
    print(f"user {name} ({role}) saved in {store.path}" + _ended(ended))


def _ended(count: int) -> str:
    return f"; {count} session{'s' if count != 1 else ''} ended" if count else ""


def users_list(
    config: ConfigOpt = None, warehouse: WarehouseOpt = None, as_json: JsonOpt = False
) -> None:
    """The web users and their roles (never passwords)."""
    from callscope.web.auth import AuthError

    store = _store(config, warehouse)
    try:
        users = store.users()
    except AuthError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(users, indent=2))
        return
    if not users:
        print(f"no users in {store.path}")
        return
    for user in users:
        print(f"{user['name']:24} {user['role']:10} {user['created_at'] or ''}")


def users_remove(
    name: Annotated[str, typer.Argument()],
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Remove a web user; their sessions end at once."""
    store = _store(config, warehouse)
    if not store.remove(name):
        _fail(f"no user {name!r} in {store.path}", 1)
    print(f"user {name} removed" + _ended(_end_sessions(store.path, name)))


def users_demo(
    config: ConfigOpt = None, warehouse: WarehouseOpt = None, as_json: JsonOpt = False
) -> None:
    """Create (or reset) three demo users named supervisor, analyst and marketing. Their
    password is $CALLSCOPE_DEMO_PASSWORD when set, else a new random one for each, printed
    once here."""
    from callscope.web.auth import ROLES, AuthError

    store = _store(config, warehouse)
    shared = os.environ.get(DEMO_PASSWORD_ENV)
    created = []
    try:
        for role in ROLES:
            password = shared or secrets.token_urlsafe(9)
            store.add(role, role, password, replace=True)
            _end_sessions(store.path, role)
            created.append({"name": role, "role": role, "password": None if shared else password})
    except AuthError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps(created, indent=2))
        return
    for user in created:
        secret = f"${DEMO_PASSWORD_ENV}" if shared else user["password"]
        print(f"{user['name']:12} role {user['role']:10} password {secret}")
    print(f"users saved in {store.path}")
