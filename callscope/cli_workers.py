"""`callscope worker`: a Prefect process worker that runs parts of fanned-out nights.

`register(app)` adds the command; callscope.cli imports this module after its shared options
and helpers are defined.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from callscope.cli import ConfigOpt, WarehouseOpt, _fail, _settings
from callscope.core.config import Settings


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    pool: Annotated[
        str | None, typer.Option("--pool", help="work pool (default: flow.work_pool)")
    ] = None,
    gpu: Annotated[
        int | None, typer.Option("--gpu", min=0, help="run on this GPU only (CUDA index)")
    ] = None,
    cpus: Annotated[
        int | None,
        typer.Option(
            "--cpus", min=1, help="cores for a worker without a GPU (its sentence encoder threads)"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="worker name in Prefect")] = None,
    prestart: Annotated[
        bool | None,
        typer.Option(
            "--prestart/--no-prestart",
            help="start the next part while the current one works (default: flow.worker_prestart)",
        ),
    ] = None,
    config: ConfigOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Take parts of fanned-out nights from a work pool, one at a time, until stopped.
    Start one per GPU on each server (--gpu 0, --gpu 1, ...), all on the same Prefect server
    and the same shared recordings and warehouse folders."""
    from callscope.flows.local import require_api, worker_env
    from callscope.flows.part import ensure_pool
    from callscope.flows.worker import run_worker
    from callscope.pipeline.parts import SLOT_VARIABLE, WORKER_VARIABLE, slot_path

    settings = _settings(config, warehouse=warehouse)
    pool = pool or settings.flow.work_pool
    if gpu is not None and cpus is not None:
        _fail("give --gpu or --cpus, not both")
    url = require_api("a worker")
    ensure_pool(pool)
    name = name or f"{socket.gethostname()}-" + (f"gpu{gpu}" if gpu is not None else "cpu")
    prestart = settings.flow.worker_prestart if prestart is None else prestart
    slot = slot_path(name) if prestart else None
    os.environ.update(worker_env({}, gpu, cpus))  # what its part processes inherit
    os.environ[WORKER_VARIABLE] = name
    if slot is not None:
        os.environ[SLOT_VARIABLE] = str(slot)
    how = "pre-starting the next part" if slot else "one part at a time"
    print(f"worker {name} on pool {pool} at {url}, {how}", flush=True)
    print(_metrics_line(settings, name), flush=True)
    run_worker(pool, name, slot)


def _metrics_line(settings: Settings, name: str) -> str:
    """Where each part's figures go (ops/metrics.py)."""
    from callscope.ops.metrics import pushgateway_address, worker_textfile

    places = []
    textfile = worker_textfile(settings.metrics.textfile, name)
    if textfile:
        places.append(f"textfile {textfile}")
    gateway = pushgateway_address(settings)
    if gateway:
        places.append(f"Pushgateway {gateway} (job {settings.metrics.job})")
    return "part metrics: " + (", ".join(places) or "off (metrics.textfile, metrics.pushgateway)")
