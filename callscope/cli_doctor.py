"""`callscope doctor`: checks a machine before its first night (ops/doctor.py holds the checks).

One line per check (✓ ok, ! warning, ✗ failure) or JSON with --json; the exit status is 1 when
any check failed, 0 when there are only warnings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from callscope.cli import ConfigOpt, JsonOpt, WarehouseOpt, _settings

MARKS = {"ok": ("✓", "OK"), "warn": ("!", "WARN"), "fail": ("✗", "FAIL")}
COLOURS = {"ok": "green", "warn": "yellow", "fail": "red"}


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
    recordings: Annotated[Path | None, typer.Option("--recordings", help="recordings root")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check this machine before its first night: Python and packages, GPUs, models, folders,
    disk, the Prefect server, the clock and the secrets. Exits 1 when a check fails."""
    from callscope.ops.doctor import failed, run_checks

    settings = _settings(config, warehouse=warehouse, recordings=recordings)
    checks = run_checks(settings, web_users=lambda: _web_users(settings))
    if as_json:
        rows = [check.as_dict() for check in checks]
        print(json.dumps({"ok": not failed(checks), "checks": rows}, ensure_ascii=False, indent=1))
    else:
        _print(checks)
    raise typer.Exit(1 if failed(checks) else 0)


def _web_users(settings) -> int:
    """How many users may sign in to the console (0 where the warehouse is not a folder)."""
    from callscope.core.errors import NotALocalFolder
    from callscope.web.auth import USERS_FILE, UserStore

    try:
        return len(UserStore(settings.web_dir / USERS_FILE).users())
    except NotALocalFolder:
        return 0


def _print(checks) -> None:
    symbols = _can_print("✓✗")
    width = max(len(check.name) for check in checks)
    for check in checks:
        mark = MARKS[check.status][0 if symbols else 1]
        typer.secho(f"{mark} {check.name:{width}}  {check.detail}", fg=COLOURS[check.status])
    counts = {status: sum(c.status == status for c in checks) for status in MARKS}
    typer.echo(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failure(s)")


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
