"""The Prefect process worker behind `callscope worker`: one per GPU, taking parts of
fanned-out nights, and starting its next part while the current one works.

A part's process spends several seconds before its first call (Python and Prefect start-up,
imports, loading the models) and the worker polls for work every few seconds; with one part
at a time that is idle GPU time on every part. A pre-starting worker runs up to two part
processes: one holding the worker's slot (callscope.pipeline.parts.WorkerSlot) and processing calls,
the next one starting up and then waiting at the slot. It takes a second part only while the
first holds the slot, and one part per poll, so that at a night's start every worker of the
pool gets a part before any worker gets two.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from callscope.pipeline.parts import slot_is_held
from prefect.utilities.processutils import setup_signal_handlers_worker
from prefect.workers.process import ProcessWorker


class PrestartingWorker(ProcessWorker):
    """A process worker with two part processes at most, the second started only while the
    first processes calls (holds the slot)."""

    @classmethod
    def __dispatch_key__(cls) -> str:  # registered apart: plain process workers stay Prefect's
        return "callscope-prestarting-process"

    def __init__(self, *args, slot: Path, **kwargs):
        super().__init__(*args, limit=2, **kwargs)
        self.slot = slot

    def wants_another(self) -> bool:
        running = self.limiter.borrowed_tokens
        return running == 0 or (running == 1 and slot_is_held(self.slot))

    async def _get_scheduled_flow_runs(self):
        if not self.wants_another():
            return []
        return (await super()._get_scheduled_flow_runs())[:1]


def run_worker(pool: str, name: str, slot: Path | None) -> None:
    """Serve `pool` until stopped (SIGINT or SIGTERM: no new parts, running ones are ended by
    their process group's signal); pre-starting when `slot` is given."""
    if slot is None:
        worker = ProcessWorker(work_pool_name=pool, name=name, limit=1)
    else:
        worker = PrestartingWorker(work_pool_name=pool, name=name, slot=slot)
    setup_signal_handlers_worker(os.getpid(), f"worker {name}", print)
    try:
        asyncio.run(worker.start(printer=lambda *parts, **_: print(*parts, flush=True)))
    except KeyboardInterrupt:
        print(f"worker {name} stopped", flush=True)
