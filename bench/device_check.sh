#!/usr/bin/env bash
# The CUDA check of a single-GPU machine without network (see bench/device_check.py).
# Here, with PyPI reachable:   python bench/device_pack.py
# There, once per part K:      bash bench/device_check.sh      (sending .devpack/partK and
#                              .devpack/manifest.json; the call that completes the parts runs
#                              the checks; logs and summary.md go to $OUT or .devstage/out)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" bench/device_check.py "$@"
