"""Deployment of the nightly flow: 01:00 Asia/Shanghai, never two runs at once.

python -m callscope.flows.deploy                       # serve it from this process (simple hosts)
python -m callscope.flows.deploy --fan-out             # serve it; each night's calls go in
                                                       # parts to the workers of flow.work_pool
python -m callscope.flows.deploy --work-pool gpu-pool  # register it for a GPU pool's workers
"""

from __future__ import annotations

import argparse

from callscope.flows.nightly import nightly
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

SCHEDULE = Cron("0 1 * * *", timezone="Asia/Shanghai")
NO_OVERLAP = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def nightly_deployment(
    config: str | None = None, work_pool: str | None = None, fan_out: bool = False
):
    parameters = ({"config": config} if config else {}) | ({"fan_out": True} if fan_out else {})
    return nightly.to_deployment(
        name="nightly",
        schedules=[SCHEDULE],
        concurrency_limit=NO_OVERLAP,
        parameters=parameters,
        work_pool_name=work_pool,
        description="Transcribe yesterday's calls into the warehouse.",
        tags=["callscope", "nightly"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="config file the runs use (e.g. configs/gpu.yaml)")
    parser.add_argument("--work-pool", help="register for this work pool instead of serving")
    parser.add_argument(
        "--fan-out",
        action="store_true",
        help="each night sends its calls in parts to the workers of flow.work_pool",
    )
    args = parser.parse_args()
    deployment = nightly_deployment(args.config, args.work_pool, args.fan_out)
    if args.work_pool:
        deployment.apply()
    else:
        from prefect import serve

        serve(deployment)


if __name__ == "__main__":
    main()
