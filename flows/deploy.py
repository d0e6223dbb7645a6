"""Deployment of the nightly flow: 01:00 Asia/Shanghai, never two runs at once.

python -m flows.deploy                       # serve it from this process (simple hosts)
python -m flows.deploy --work-pool gpu-pool  # register it for a GPU work pool's workers
"""

from __future__ import annotations

import argparse

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from flows.nightly import nightly

SCHEDULE = Cron("0 1 * * *", timezone="Asia/Shanghai")
NO_OVERLAP = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def nightly_deployment(config: str | None = None, work_pool: str | None = None):
    return nightly.to_deployment(
        name="nightly",
        schedules=[SCHEDULE],
        concurrency_limit=NO_OVERLAP,
        parameters={"config": config} if config else {},
        work_pool_name=work_pool,
        description="Transcribe yesterday's calls into the warehouse.",
        tags=["callscope", "nightly"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="config file the runs use (e.g. configs/gpu.yaml)")
    parser.add_argument("--work-pool", help="register for this work pool instead of serving")
    args = parser.parse_args()
    deployment = nightly_deployment(args.config, args.work_pool)
    if args.work_pool:
        deployment.apply()
    else:
        from prefect import serve

        serve(deployment)


if __name__ == "__main__":
    main()
