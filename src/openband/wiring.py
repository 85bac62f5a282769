"""Start and stop what runs beside the HTTP APIs: inventory, job handlers, workers."""

from __future__ import annotations

import asyncio
import gc
import logging

from openband.api.context import AppContext
from openband.core.jobs import Workers

log = logging.getLogger(__name__)


async def start(context: AppContext, *, run_workers: bool = True) -> None:
    s = context.settings
    from openband.core.inventory import Inventory, exchange_index

    context.inventory = Inventory(context.settings, context.db)
    # Build the exchange index now, off the event loop, so the first search does not wait ~5 s.
    warmup = asyncio.create_task(asyncio.to_thread(exchange_index))
    warmup.add_done_callback(freeze_heap)
    context.extras["inventory_warmup"] = warmup
    context.workers = Workers(
        context.db,
        poll_seconds=s.worker_poll_seconds,
        worker_id=s.worker_id,
        lease_seconds=s.lease_seconds,
    )
    for register in _registrars():
        register(context)
    if run_workers:
        context.workers.start()
    _start_delivery(context, run_workers)
    _start_messaging(context, run_workers)


def freeze_heap(_task: object = None) -> None:
    """Move everything built at start (modules, the exchange index) out of the cyclic GC's view,
    and collect less often.

    A full collection otherwise rescans those long-lived objects every time, a 30-50 ms pause
    that lands on whichever request is running: the p99 of searches and message accepts.
    """
    gc.collect()
    gc.freeze()
    # The hot paths allocate many short-lived objects (rows, events, responses); at Python's
    # default (700 allocations per young collection) collections ran so often, and full ones over
    # the caches so long, that they set the accept p99 (measured: 2,900 accepted/s with p99 305 ms
    # at the default, 5,100/s with p99 37 ms here; RSS +16 MB). Cycles are still collected.
    gc.set_threshold(50_000, 20, 100)


async def stop(context: AppContext) -> None:
    await _stop_messaging(context)
    await _stop_delivery(context)
    if context.workers is not None:
        await context.workers.stop()


def _register_orders(context: AppContext) -> None:
    from openband.core import orders

    assert context.workers is not None
    dialect = context.db.dialect

    async def order_job(conn, ref: str) -> None:  # type: ignore[no-untyped-def]
        assert context.inventory is not None
        await orders.process_order(conn, context.inventory, ref, dialect)

    context.workers.register(orders.JOB_ORDER, order_job)
    context.workers.register(orders.JOB_DISCONNECT, orders.process_disconnect)


def _register_simulator(context: AppContext) -> None:
    """The simulated phone network as the carrier, and its durable `sim_event` jobs."""
    from openband.network.simulator import JOB_KIND, Simulator, sink_from

    assert context.workers is not None
    sim = Simulator(receipt_timeout_seconds=context.settings.sim_receipt_timeout_seconds)
    context.extras["carrier"] = sim

    async def sim_event(conn, ref: str) -> None:  # type: ignore[no-untyped-def]
        # core/messaging sets the sink; looked up at run time so start order does not matter.
        sink = sink_from(context.extras)
        if sink is None:
            raise RuntimeError("no messaging sink registered (extras['messaging_sink'])")
        await sim.run_event(conn, ref, sink)

    context.workers.register(JOB_KIND, sim_event)


def _registrars():  # type: ignore[no-untyped-def]
    """Each capability that needs background work exposes `register(context)`."""
    return [_register_orders, _register_simulator, _register_messaging]


# --- messaging -----------------------------------------------------------------------------------


def _register_messaging(context: AppContext) -> None:
    """The messaging engine (extras["messaging"]) and its carrier sink (extras["messaging_sink"]).

    Sending does not use the jobs table: the engine's pump claims due recipients in batches
    from message_recipients.send_at (see store/messages.py for why).
    """
    from openband.core.messaging import Messaging

    engine = Messaging(context.settings, context.db, context.extras)
    context.extras["messaging"] = engine
    context.extras["messaging_sink"] = engine.sink


def _start_messaging(context: AppContext, run_workers: bool) -> None:
    from openband.core.messaging import Messaging

    engine = context.extras.get("messaging")
    if run_workers and isinstance(engine, Messaging):
        engine.start_pump()


async def _stop_messaging(context: AppContext) -> None:
    from openband.core.messaging import Messaging

    engine = context.extras.get("messaging")
    if isinstance(engine, Messaging):
        await engine.stop()


# --- callback delivery ---------------------------------------------------------------------------


def _start_delivery(context: AppContext, run_workers: bool) -> None:
    """The shared outbound HTTP client (extras["http"]), and in extras["delivery"] the outbox
    worker, or, when delivery has processes of its own, what nudges them (same `wake()`)."""
    from openband.core.messaging import Messaging
    from openband.delivery.http import HttpClient
    from openband.delivery.nudge import Nudger
    from openband.delivery.worker import DeliveryWorker

    s = context.settings
    http = HttpClient.from_settings(s)
    context.extras["http"] = http
    if s.delivery_processes > 0:
        context.extras["delivery"] = Nudger(s.delivery_namespace, s.delivery_processes)
        return
    engine = context.extras.get("messaging")
    priority = engine.priority if isinstance(engine, Messaging) else None
    worker = DeliveryWorker(s, context.db, http=http, priority=priority)
    context.extras["delivery"] = worker
    if run_workers:
        worker.start()


async def _stop_delivery(context: AppContext) -> None:
    from openband.delivery.http import HttpClient
    from openband.delivery.nudge import Nudger
    from openband.delivery.worker import DeliveryWorker

    worker = context.extras.pop("delivery", None)
    if isinstance(worker, DeliveryWorker):
        await worker.stop()
    elif isinstance(worker, Nudger):
        worker.close()
    http = context.extras.pop("http", None)
    if isinstance(http, HttpClient):
        await http.close()
