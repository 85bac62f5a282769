"""The composition root: builds every service with its dependencies passed in, and starts and
stops what runs beside the HTTP APIs (job workers, the send pump, callback delivery).

Only here (and in server.py and cli.py) do layers meet: the API family's callback format is
handed to core, the simulator to core as its carrier, delivery's clients to both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from openband.api import messaging_v2, voice_v2
from openband.audio.speech import Speech
from openband.clock import RealClock
from openband.config import Settings
from openband.core import orders, sealed_secrets
from openband.core.accounts import Accounts, CredentialCache, failure_limiter
from openband.core.cache import Generation
from openband.core.inventory import Inventory, exchange_index
from openband.core.jobs import Workers
from openband.core.messaging import Messaging
from openband.core.platform import Platform
from openband.core.priority import AcceptPriority
from openband.core.simulator import SimulatorControl
from openband.core.verify_pool import VerifyPool
from openband.core.voice import CallRuntime, Directory, Voice
from openband.delivery.fetch import Fetcher
from openband.delivery.http import HttpClient
from openband.delivery.nudge import Nudger
from openband.delivery.worker import DeliveryWorker
from openband.heap import freeze_heap
from openband.network.sim import SimulatorMessaging
from openband.network.sim.voice import SimulatorVoice
from openband.sealing import Sealer
from openband.store import versions
from openband.store.blobs import BlobStore, open_store
from openband.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class Node:
    """One process's platform and the machinery behind it."""

    platform: Platform
    workers: Workers
    delivery: DeliveryWorker | Nudger  # in process, or nudges to the delivery processes
    http: HttpClient  # callbacks
    fetcher: Fetcher  # synchronous fetches (media, BXML), on a pool of its own
    speech: Speech
    tasks: list[asyncio.Task[object]] = field(default_factory=list)


async def _routing_version(db: Database) -> int:
    async with db.connect() as conn:
        return await versions.read(conn, versions.ROUTING)


def build(settings: Settings, db: Database) -> Node:
    s = settings
    priority = AcceptPriority(s.pipeline_share_under_load)
    # Seals and opens stored secrets: the settings' keys, or the key file (made on first start).
    sealer = Sealer.from_settings(s)
    http = HttpClient.from_settings(s)
    fetcher = Fetcher.from_settings(s)
    delivery: DeliveryWorker | Nudger
    if s.delivery_processes > 0:
        delivery = Nudger(s.delivery_namespace, s.delivery_processes)
    else:
        delivery = DeliveryWorker(s, db, sealer=sealer, http=http, priority=priority)
    workers = Workers(
        db, poll_seconds=s.worker_poll_seconds, worker_id=s.worker_id, lease_seconds=s.lease_seconds
    )

    def wake() -> None:
        """After a commit that enqueued work: run it now instead of at the next poll."""
        workers.wake()
        delivery.wake()

    carrier = SimulatorMessaging(receipt_timeout_seconds=s.sim_receipt_timeout_seconds)
    blobs = open_store(db, s.media_dir)  # media and recordings: files beside SQLite, or PG objects
    messaging = Messaging(
        s,
        db,
        callbacks=messaging_v2.CALLBACKS,
        priority=priority,
        sealer=sealer,
        carrier=carrier,
        fetcher=fetcher,
        wake_delivery=delivery.wake,
        blobs=blobs,
        routing=Generation(partial(_routing_version, db), s.cache_check_seconds),
    )
    voice, speech = _voice(s, db, sealer=sealer, fetcher=fetcher, blobs=blobs, wake=delivery.wake)
    inventory = Inventory(s, db)
    platform = Platform(
        settings=s,
        db=db,
        accounts=Accounts(
            db,
            CredentialCache(
                s.credential_cache_seconds, VerifyPool(s.auth_verify_threads, s.auth_verify_queue)
            ),
            failure_limiter(s),
        ),
        orders=orders.Orders(db, wake=workers.wake),
        messaging=messaging,
        simulator=SimulatorControl(
            s,
            db,
            carrier=carrier,
            sink=messaging.sink,
            fetcher=fetcher,
            wake=wake,
            media=messaging.media,
        ),
        inventory=inventory,
        sealer=sealer,
        voice=voice,
    )
    node = Node(platform, workers, delivery, http, fetcher, speech)
    _register_jobs(node)
    return node


def _voice(
    s: Settings,
    db: Database,
    *,
    sealer: Sealer,
    fetcher: Fetcher,
    blobs: BlobStore,
    wake: Callable[[], None],
) -> tuple[Voice, Speech]:
    """The call engine on the simulated network: the network asks the directory for handsets'
    call scripts and which numbers are the platform's; core drives the network."""
    clock = RealClock()
    speech = Speech(workers=s.speech_workers)
    directory = Directory(db)
    sim = SimulatorVoice(
        clock,
        speech,
        directory.call_script,
        directory.platform_number,
        answer_after_seconds=s.sim_answer_after_seconds,
    )
    runtime = CallRuntime(
        db=db,
        carrier=sim,
        fetcher=fetcher,
        speaker=speech,
        blobs=blobs,
        sealer=sealer,
        clock=clock,
        render=voice_v2.webhook,
        public_base=(s.public_url or f"http://{s.host}:{s.port}"),
        node=s.worker_id or f"{socket.gethostname()}:{os.getpid()}",
        lease_seconds=s.call_lease_seconds,
        wake_delivery=wake,
        retry_hours=s.callback_retry_hours,
    )
    sim.start(runtime)
    voice = Voice(s, db, runtime=runtime, sim=sim, sealer=sealer, clock=clock, blobs=blobs)
    return voice, speech


def _register_jobs(node: Node) -> None:
    p, workers = node.platform, node.workers
    dialect = p.db.dialect

    async def order_job(conn, ref: str) -> None:  # type: ignore[no-untyped-def]
        await orders.process_order(conn, p.inventory, ref, dialect)

    workers.register(orders.JOB_ORDER, order_job)
    workers.register(orders.JOB_DISCONNECT, orders.process_disconnect)
    p.messaging.register_jobs(workers)


async def start(node: Node, *, run_workers: bool = True) -> None:
    # Before anything reads a secret: this node's keys must open what the database holds.
    await sealed_secrets.check_keys(node.platform.db, node.platform.sealer)
    # Build the exchange index now, off the event loop, so the first search does not wait ~5 s.
    warmup = asyncio.create_task(asyncio.to_thread(exchange_index))
    warmup.add_done_callback(freeze_heap)
    node.tasks.append(warmup)
    if not run_workers:
        return
    node.workers.start()
    if isinstance(node.delivery, DeliveryWorker):
        node.delivery.start()
    node.platform.messaging.start_pump()
    node.tasks.append(asyncio.create_task(node.platform.voice.keep_leases()))


async def stop(node: Node) -> None:
    await node.platform.voice.close()
    await node.platform.messaging.stop()
    if isinstance(node.delivery, DeliveryWorker):
        await node.delivery.stop()
    else:
        node.delivery.close()
    await node.workers.stop()
    await node.http.close()
    await node.fetcher.close()
    await node.speech.close()
    node.platform.accounts.close()
