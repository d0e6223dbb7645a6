"""A worker's slot: the one part of a worker that processes calls holds it, the pre-started
next part waits for it; a holder that dies frees it at once, one that hangs is not waited for;
the worker takes a second part only while its first one holds the slot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from callscope.core.errors import PartSlotStuck
from callscope.pipeline.night import part_lines
from callscope.pipeline.parts import WorkerSlot, prestarted, slot_is_held, slot_path

REPO = Path(__file__).resolve().parent.parent

HOLD_SLOT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from callscope.pipeline.parts import WorkerSlot
    holder = json.loads(sys.argv[2])
    with WorkerSlot(Path(sys.argv[1]), holder, stale_after_s=600):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
    """
)


def _hold(slot: Path, seconds: float, **holder) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_SLOT, str(slot), json.dumps(holder), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _me(name: str = "part-0002") -> dict:
    return {"part": name, "pid": os.getpid(), "beat": None}


def test_a_prestarted_part_waits_until_the_part_before_it_is_done(tmp_path):
    slot = tmp_path / "w1.lock"
    first = _hold(slot, 1.5, part="part-0001", pid=0, beat=None)
    with WorkerSlot(slot, _me(), stale_after_s=60) as mine:
        assert mine.waited_s > 1.0  # the first held it for 1.5 s after saying so
        assert json.loads(slot.read_text())["part"] == "part-0002"
    first.wait(timeout=10)


def test_a_free_slot_is_taken_without_waiting(tmp_path):
    with WorkerSlot(tmp_path / "w1.lock", _me(), stale_after_s=60) as mine:
        assert mine.waited_s < 0.1
        assert slot_is_held(tmp_path / "w1.lock") is True
    assert slot_is_held(tmp_path / "w1.lock") is False


def test_a_holder_that_dies_frees_the_slot_at_once(tmp_path):
    slot = tmp_path / "w1.lock"
    first = _hold(slot, 600, part="part-0001", pid=0, beat=None)
    os.kill(first.pid, signal.SIGKILL)  # as if the part's process crashed
    first.wait(timeout=10)
    started = time.monotonic()
    with WorkerSlot(slot, _me(), stale_after_s=60):
        assert time.monotonic() - started < 1.0


def test_a_hung_holder_is_not_waited_for_and_the_message_says_what_to_do(tmp_path):
    slot, beat = tmp_path / "w1.lock", tmp_path / "part-0001.beat.json"
    beat.write_text("{}")
    os.utime(beat, (time.time() - 300, time.time() - 300))  # its heartbeat stopped 5 min ago
    hung = _hold(slot, 600, part="part-0001", pid=4242, beat=str(beat))
    try:
        started = time.monotonic()
        with pytest.raises(PartSlotStuck) as error:
            with WorkerSlot(slot, _me(), stale_after_s=120):
                pass
        assert time.monotonic() - started < 5
        assert "part-0001" in str(error.value) and "4242" in str(error.value)
        assert "restart the worker" in str(error.value)
    finally:
        hung.kill()
        hung.wait(timeout=10)


def test_no_slot_outside_a_prestarting_worker(tmp_path):
    with WorkerSlot(None, _me(), stale_after_s=60) as mine:
        assert mine.waited_s == 0.0


def test_slot_files_are_per_worker_and_safe_to_name(tmp_path):
    assert slot_path("gpu-node-1-gpu0") != slot_path("gpu-node-1-gpu1")
    assert "/" not in slot_path("a/b c").name


def test_the_worker_takes_a_second_part_only_while_its_first_one_works(tmp_path):
    from callscope.flows.worker import PrestartingWorker

    slot = tmp_path / "w1.lock"
    worker = PrestartingWorker(work_pool_name="test-pool", name="w1", slot=slot)

    async def check() -> None:
        worker._limiter = anyio.CapacityLimiter(2)  # what setup() creates, without a server
        assert worker.wants_another()  # nothing running
        worker._limiter.acquire_on_behalf_of_nowait("run-1")
        assert not worker.wants_another()  # its first part is still starting up
        first = _hold(slot, 600, part="part-0001", pid=0, beat=None)
        try:
            assert worker.wants_another()  # it processes calls: start the next one now
            worker._limiter.acquire_on_behalf_of_nowait("run-2")
            assert not worker.wants_another()  # one working, one waiting: no more
        finally:
            first.kill()
            first.wait(timeout=10)

    anyio.run(check)


def _run(worker: str, started: float, finished: float, host: str = "gpu-1") -> dict:
    return {
        "attempt": 1,
        "state": "done",
        "host": host,
        "worker_pid": 1,
        "reason": None,
        "worker": worker,
        "started_at": started,
        "finished_at": finished,
    }


def test_the_summary_counts_parts_whose_start_up_was_hidden_per_worker():
    runs = [
        _run("gpu-1-gpu0", 0, 100),
        _run("gpu-1-gpu0", 90, 200),  # started up while the first still worked
        _run("gpu-1-gpu1", 150, 250),  # another worker: overlapping it proves nothing
        _run("gpu-1-gpu0", 200.5, 300),  # after its predecessor: not hidden
    ]
    assert prestarted(runs) == 1
    parts = [{"name": f"part-{n}", "calls": 2, "attempts": [run]} for n, run in enumerate(runs)]
    assert part_lines(parts)[0] == (
        "parts: 4 on 1 host(s), 2 worker(s), 0 run again, "
        "1 started up while the part before them worked"
    )


def test_a_part_counts_its_start_up_from_its_process_start():
    before = time.time()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(1.5); from callscope.pipeline.parts import "
            "process_started_at; print(process_started_at())",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    started = float(result.stdout)
    assert before - 1.5 < started < before + 1.2  # btime is whole seconds
