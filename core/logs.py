"""One logger hierarchy: every module of the product logs under `callscope.`, so an entry point
sets up handlers once (callscope/logs.py) and `-v` reaches every package."""

from __future__ import annotations

import logging

ROOT = "callscope"


def get_logger(module: str) -> logging.Logger:
    """The logger of `module` (pass __name__) inside the `callscope` hierarchy."""
    name = module if module == ROOT or module.startswith(f"{ROOT}.") else f"{ROOT}.{module}"
    return logging.getLogger(name)
