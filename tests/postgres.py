"""A throwaway PostgreSQL cluster from Debian's packages, for a Prefect server on PostgreSQL as
in production. Where PostgreSQL is not installed (or cannot run here) the caller skips with
the reason this gives."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not versions:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: as root, run it as Debian's postgres user."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no postgres user") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"], "postgres"


@contextmanager
def postgres_database(name: str = "prefect") -> Iterator[str]:
    """Yield a SQLAlchemy asyncpg URL of a new database on a cluster that ends with the block."""
    bin_dir = _bin_dir()
    prefix, user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="callscope-pg-"))
    if user:
        shutil.chown(root, user=user)
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise PostgresUnavailable(f"{Path(command[0]).name} failed: {done.stderr[-500:]}")

    started = False
    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "callscope",
            "--auth=trust",
            "-E",
            "UTF8",
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        )
        started = True
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "callscope", name)
        yield f"postgresql+asyncpg://callscope@127.0.0.1:{port}/{name}"
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def count_rows(url: str, table: str) -> int:
    """Rows in one table, read with asyncpg (the driver the Prefect server itself uses)."""
    import asyncio

    import asyncpg

    async def count() -> int:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return await connection.fetchval(f'SELECT count(*) FROM "{table}"')
        finally:
            await connection.close()

    return asyncio.run(count())
