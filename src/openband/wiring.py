"""Start and stop what runs beside the HTTP APIs: inventory, job handlers, workers."""

from __future__ import annotations

import logging

from openband.api.context import AppContext
from openband.core.jobs import Workers

log = logging.getLogger(__name__)


async def start(context: AppContext, *, run_workers: bool = True) -> None:
    s = context.settings
    context.workers = Workers(context.db, poll_seconds=s.worker_poll_seconds, worker_id=s.worker_id)
    for register in _registrars():
        register(context)
    if run_workers:
        context.workers.start()


async def stop(context: AppContext) -> None:
    if context.workers is not None:
        await context.workers.stop()


def _registrars():  # type: ignore[no-untyped-def]
    """Each capability that needs background work exposes `register(context)`."""
    return []
