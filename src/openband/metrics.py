"""Prometheus metrics, served at GET /metrics.

Counters are bumped once per batch (a group commit, a pump round, a recorder flush), never per
request, so the hot paths pay nothing per message. `openband serve` runs several processes
when asked (--workers, --delivery-processes): it then points PROMETHEUS_MULTIPROC_DIR at a
fresh directory before any of them imports prometheus_client (cli._metrics_dir), each process
counts into its own file there, and whichever process answers a scrape sums them all. The
database gauges (queued recipients, pending callbacks) are read at scrape time: they are the
whole cluster's.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from openband.clock import now
from openband.store import callbacks as callbacks_repo
from openband.store import messages as messages_repo

if TYPE_CHECKING:
    from openband.store.db import Database

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

MESSAGES_ACCEPTED = Counter(
    "openband_messages_accepted", "Create-message requests committed and answered 202"
)
MESSAGES_REFUSED = Counter(
    "openband_messages_refused", "Create-message requests refused with 429 (queue full)"
)
COMMIT_BATCH = Histogram(
    "openband_message_commit_batch",
    "Create-message requests per group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
RECIPIENTS_SENT = Counter(
    "openband_message_recipients_sent", "Message copies handed to the carrier (or failed first)"
)
CALLBACK_ATTEMPTS = Counter(
    "openband_callback_attempts",
    "Callback POSTs recorded, by outcome (delivered: a 2xx; failed: anything else)",
    ["outcome"],
)
for _outcome in ("delivered", "failed"):
    CALLBACK_ATTEMPTS.labels(_outcome)  # both series from the start, at 0
# The text format every Prometheus reads (what generate_latest writes for these names).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class _Gauges(Collector):
    """Values read from the database for one scrape."""

    def __init__(self, queued: int, pending: int, oldest: datetime | None, now: datetime) -> None:
        self.values = (queued, pending, oldest, now)

    def collect(self):  # type: ignore[no-untyped-def]
        queued, pending, oldest, now = self.values
        yield GaugeMetricFamily(
            "openband_message_recipients_queued",
            "Message copies accepted and not yet handed to the carrier (all nodes)",
            value=queued,
        )
        yield GaugeMetricFamily(
            "openband_callbacks_pending",
            "Callback events not yet delivered or expired (all nodes)",
            value=pending,
        )
        yield GaugeMetricFamily(
            "openband_callbacks_oldest_pending_seconds",
            "Age of the oldest pending callback event (0 when none)",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        )


async def scrape(db: Database) -> bytes:
    """The text of one scrape: this process's counters with its process and GC metrics (in
    multiprocess mode every process's counters, summed), then the database gauges."""
    async with db.connect() as conn:
        queued = await messages_repo.queued_count(conn)
        pending, oldest = await callbacks_repo.pending_summary(conn)
    if os.environ.get(MULTIPROC_ENV):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    gauges = CollectorRegistry()
    gauges.register(_Gauges(queued, pending, oldest, now()))
    return generate_latest(counters) + generate_latest(gauges)
