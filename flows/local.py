"""The fanned-out night on one machine: a Prefect server (unless `PREFECT_API_URL` names one)
and N workers, started for the night and stopped after it, whatever happened.

Each worker is `callscope worker --pool NAME --cpus K` in its own process group, with K a
share of this machine's cores (on a GPU server start them with --gpu instead, see deploy/).
The command that starts a worker is the CLI's (`worker_command`, passed in by the caller):
flows/ never names the CLI, which imports it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger

logger = get_logger(__name__)

SERVER_START_S = 120.0
WORKER_QUERY_S = "2"  # how often an idle local worker asks for a part
CPUS_VARIABLE = "CALLSCOPE_WORKER_CPUS"  # a CPU worker's share of the cores


class ClusterError(CallscopeError):
    """The local Prefect server or a worker could not be started."""


def api_reachable(url: str, timeout_s: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def require_api(what: str) -> str:
    """The shared Prefect server's API URL, or a ClusterError saying what to set."""
    url = os.environ.get("PREFECT_API_URL")
    if not url or not api_reachable(url):
        raise ClusterError(
            f"no Prefect server answers at PREFECT_API_URL ({url or 'unset'}): {what} needs "
            "the server every worker and the night share, e.g. "
            "PREFECT_API_URL=http://prefect-host:4200/api (or run the night with --workers N "
            "to start one here)"
        )
    return url


class LocalCluster:
    """The night's own Prefect server and `workers` workers, each started as
    `worker_command` (the `callscope worker` command line) with the pool, cores and name
    added. With `api_only` (a night in one process) the server is the API alone, as Prefect's
    temporary server, on Prefect's usual database; either way it runs under flows/guard.py, so
    it goes when the night goes."""

    def __init__(
        self,
        workers: int,
        pool: str,
        log: Callable[[str], None] = logger.info,
        cpus_per_worker: int | None = None,
        prestart: bool | None = None,
        api_only: bool = False,
        worker_command: Sequence[str] = (),
    ):
        if workers and not worker_command:
            raise ValueError("LocalCluster needs the command that starts a worker")
        self.workers = workers
        self.worker_command = list(worker_command)
        self.api_only = api_only
        self.prestart = prestart
        self.pool = pool
        self.log = log
        self.cpus = cpus_per_worker or max(1, (os.cpu_count() or 1) // max(workers, 1))
        self.url = os.environ.get("PREFECT_API_URL")
        self._url_before = self.url
        self._server: subprocess.Popen | None = None
        self._workers: list[subprocess.Popen] = []
        self._home: tempfile.TemporaryDirectory | None = None
        self._settings = None

    def __enter__(self) -> LocalCluster:
        try:
            if self.url:
                if not api_reachable(self.url):
                    raise ClusterError(
                        f"PREFECT_API_URL is {self.url}, but no Prefect server answers there: "
                        "start it, or unset PREFECT_API_URL to use a server of this night's own"
                    )
            else:
                self.url = self._start_server()
            self._point_here()
            if self.workers:
                self._start_workers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            _flush_run_logs()
        for process in self._workers:
            _stop(process, grace_s=20)
        if self._server is not None:
            _stop(self._server, grace_s=20)
            if not self.api_only:
                self.log("stopped the night's Prefect server")
        if self._settings is not None:
            self._settings.__exit__(None, None, None)
            self._settings = None
            if self._url_before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = self._url_before
        if self._home is not None:
            self._home.cleanup()

    def env(self) -> dict[str, str]:
        return {**os.environ, "PREFECT_API_URL": self.url or ""}

    def _point_here(self) -> None:
        """This process's Prefect client (the night's flow run) talks to the cluster's API."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        os.environ["PREFECT_API_URL"] = self.url
        self._settings = temporary_settings(updates={PREFECT_API_URL: self.url})
        self._settings.__enter__()

    def _start_server(self) -> str:
        self._home = tempfile.TemporaryDirectory(prefix="callscope-prefect-")
        port = free_port()
        url = f"http://127.0.0.1:{port}/api"
        log_path = Path(self._home.name) / "server.log"
        if self.api_only:
            command, env = _api_server(port)
        else:
            env = {**os.environ, "PREFECT_HOME": self._home.name, "PREFECT_API_URL": url}
            command = [sys.executable, "-m", "prefect", "server", "start"]
            command += ["--host", "127.0.0.1", "--port", str(port)]
        self._server = subprocess.Popen(
            _guarded(command),
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + SERVER_START_S
        while not api_reachable(url):
            if self._server.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-1500:]
                raise ClusterError(f"the local Prefect server did not start:\n{tail}")
            time.sleep(0.5)
        if not self.api_only:
            self.log(f"started a Prefect server for the night at {url}")
        return url

    def _start_workers(self) -> None:
        from callscope.flows.part import ensure_pool

        ensure_pool(self.pool)
        env = {**self.env(), "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_S}
        for n in range(1, self.workers + 1):
            name = f"{socket.gethostname()}-local-{n}"
            command = [*self.worker_command, "--pool", self.pool]
            if self.prestart is not None:
                command.append("--prestart" if self.prestart else "--no-prestart")
            self._workers.append(
                subprocess.Popen(
                    _guarded([*command, "--cpus", str(self.cpus), "--name", name]),
                    env=env,
                    stdout=2,  # to our stderr: the night's stdout stays its own (--json)
                    start_new_session=True,
                )
            )
        self.log(f"started {self.workers} workers on pool {self.pool}, {self.cpus} cores each")


def _api_server(port: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of Prefect's temporary server (its API without the UI or
    background services), as `prefect.server.api.server.SubprocessASGIServer` starts it."""
    from prefect.settings import get_current_settings

    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory"]
    command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return command, env


def _guarded(command: list[str]) -> list[str]:
    """`command` under flows/guard.py: its process group ends when this process is gone, even
    killed with SIGKILL (nothing left transcribing or serving after the night)."""
    return [sys.executable, "-m", "callscope.flows.guard", str(os.getpid()), "--", *command]


def _flush_run_logs() -> None:
    """Send the night's run logs to the server before it stops (else Prefect complains later)."""
    try:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
    except Exception as exc:  # the logs are also on the console; never fail a night for them
        logger.debug("run logs not flushed: %s", exc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to the process group (a worker and the part it runs), SIGKILL after grace_s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def worker_env(env: dict[str, str], gpu: int | None, cpus: int | None) -> dict[str, str]:
    """The environment the worker's part processes inherit: one GPU, seen as device 0, or
    a share of the cores (`CALLSCOPE_WORKER_CPUS`, for the sentence encoder's threads). The
    thread variables of OpenMP and BLAS are left as they are: the int8 CPU decode's words
    depend on them, so a call reads the same on a worker as in one process on that machine."""
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        env["CALLSCOPE_ASR__DEVICE_INDEX"] = "0"
    if cpus is not None:
        env[CPUS_VARIABLE] = str(cpus)
    return env
