"""Runs a command and ends its whole process group once the process that started it is gone.

`python -m callscope.flows.guard PARENT_PID -- COMMAND...`: the night starts its Prefect
server and workers under this guard, each in a session of its own. A night that exits normally
stops them itself (SIGTERM to the group: the guard lets its command shut down and exits with
it); a night killed with SIGKILL cannot, so the guard sees its parent change and ends the group
(the command and whatever it started: a worker's part process) with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 20.0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m callscope.flows.guard PARENT_PID -- COMMAND...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    signal.signal(signal.SIGTERM, lambda *_: None)  # the group's SIGTERM is for the command
    child = subprocess.Popen(argv[2:])
    while True:
        try:
            return child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:
            return _end_group(child)


def _end_group(child: subprocess.Popen) -> int:
    os.killpg(os.getpgrp(), signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL_S)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the guard goes with what is left
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
