"""Prometheus figures of a night and of a worker's parts: a node_exporter textfile and a
Pushgateway (settings.metrics). The web app's own /metrics live in web/."""

from __future__ import annotations

from callscope.core.config import Settings


def publish_night(summary: dict, settings: Settings, succeeded: bool) -> None:
    """Write the night's figures where settings.metrics says (textfile, Pushgateway)."""
    if settings.metrics.textfile or settings.metrics.pushgateway:
        raise NotImplementedError("night metrics are being written")
