"""One part of a night on a worker: the `transcribe-part` deployment on a process work pool.

A worker (`callscope worker --pool NAME`) takes a part's flow run, runs it in a fresh process
with the models loaded once, and stages each call in the shared warehouse. Prefect tracks the
part, not its calls: each call is a line in the part's log and a step of its progress
artifact. A part's figures (calls, audio and wall seconds, by worker) go where
settings.metrics says (ops/metrics.py).
"""

from __future__ import annotations

import datetime as dt

from callscope.core.config import load_config
from callscope.ops.metrics import publish_part
from callscope.pipeline.night import ProgressLog
from callscope.pipeline.parts import run_part
from callscope.pipeline.runner import CallOutcome
from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

DEPLOYMENT = "transcribe-part"
FLOW = "transcribe-part"


@flow(name=FLOW, log_prints=True)
def transcribe_part(
    date: str,
    part: str,
    call_ids: list[str],
    attempt: int = 1,
    config: str | None = None,
    recordings: str | None = None,
    warehouse: str | None = None,
) -> dict:
    """Transcribe and stage the part's calls; returns the part's report (also written to
    `<warehouse>/_parts/`, where the night reads it)."""
    settings = load_config(config, recordings=recordings, warehouse=warehouse)
    logger = get_run_logger()
    total = len(call_ids)
    logger.info("%s of %s: %d calls, attempt %d", part, date, total, attempt)
    artifact = create_progress_artifact(0.0, description=f"{part} of {date}: calls done")
    log = ProgressLog(total, log=logger.info)

    def progress(outcome: CallOutcome) -> None:
        log(outcome)
        update_progress_artifact(artifact, 100.0 * log.done / max(total, 1))

    report = run_part(
        dt.date.fromisoformat(date), part, call_ids, settings, attempt, progress=progress
    )
    logger.info("%s done in %.1f s", part, report["wall_s"])
    publish_part(report, settings)  # settings.metrics: the worker's textfile, the Pushgateway
    return {key: report[key] for key in ("name", "host", "pid", "attempt", "wall_s")}


def part_deployment(work_pool: str):
    """The deployment the workers of `work_pool` run for a night's parts."""
    description = "Transcribe one part of a night's calls into the shared warehouse."
    return pool_deployment(transcribe_part, DEPLOYMENT, work_pool, description, "part")


def pool_deployment(flow_object, name: str, work_pool: str, description: str, tag: str):
    """A deployment of `flow_object` on `work_pool` whose entrypoint is a module path, so any
    host with callscope installed can load it."""
    from prefect.types.entrypoint import EntrypointType

    return flow_object.to_deployment(
        name=name,
        work_pool_name=work_pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
        description=description,
        tags=["callscope", tag],
    )


def ensure_pool(work_pool: str) -> str:
    """Create the process work pool when it is missing and register on it the part deployment
    and the re-apply one (flows/backfill.py), all idempotent; returns the part deployment's
    full name."""
    from callscope.flows.backfill import reapply_deployment
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=work_pool, type="process"))
        except ObjectAlreadyExists:
            pass
    part_deployment(work_pool).apply()
    reapply_deployment(work_pool).apply()
    return f"{FLOW}/{DEPLOYMENT}"
