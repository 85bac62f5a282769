"""GET /metrics: Prometheus text with the messaging and callback counters and the database
gauges, without credentials (like /health)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from openband.clock import now
from openband.store import callbacks as callbacks_repo
from openband.store import messages as messages_repo
from openband.store.db import Database
from tests.support.harness import Harness
from tests.support.messaging import FakeCarrier, provision_sender, random_tn


def scrape(harness: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = harness.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


DbGauges = tuple[int, int, datetime | None, datetime]  # queued, pending, oldest, read at


def db_gauges(harness: Harness) -> DbGauges:
    async def read(db: Database) -> DbGauges:
        async with db.connect() as conn:
            queued = await messages_repo.queued_count(conn)
            pending, oldest = await callbacks_repo.pending_summary(conn)
        return queued, pending, oldest, now()

    return harness.run(read)  # type: ignore[no-any-return]


def scrape_between_db_reads(
    harness: Harness,
) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], DbGauges, DbGauges]:
    """A scrape with the database's gauge values read right before and right after it, retried
    until the two reads agree (other tests' callbacks may still be settling in the background)."""
    for _ in range(50):
        first = db_gauges(harness)
        got = scrape(harness)
        second = db_gauges(harness)
        if first[:3] == second[:3]:
            return got, first, second
    raise AssertionError("the database's gauge values kept changing")


def test_metrics_count_messages_and_callbacks(harness: Harness) -> None:
    messaging = harness.app.state.platform.messaging
    saved = messaging.carrier
    carrier = messaging.carrier = FakeCarrier()
    try:
        acct = harness.new_account()
        sender = provision_sender(acct, config={"callback_url": "http://127.0.0.1:9/cb"})
        before = scrape(harness)
        for key in (
            ("openband_message_recipients_queued", ()),
            ("openband_callbacks_pending", ()),
            ("openband_callbacks_oldest_pending_seconds", ()),
            ("openband_callback_attempts_total", (("outcome", "failed"),)),
        ):
            assert key in before
        to = [random_tn(), random_tn()]
        mid = sender.send(to, "counted").json()["id"]
        harness.wait_for(lambda: len([m for m in carrier.submitted if m.message_id == mid]) == 2)
        failed = ("openband_callback_attempts_total", (("outcome", "failed"),))
        pending = ("openband_callbacks_pending", ())

        def settled() -> bool:
            # Port 9 refuses: each recipient's message-sending and delivered events fail (the
            # first attempts get recorded) and wait for a retry, so they stay pending.
            now = scrape(harness)
            return now[pending] - before[pending] >= 4 and now[failed] > before[failed]

        harness.wait_for(settled)
        after, db_before, db_after = scrape_between_db_reads(harness)
    finally:
        messaging.carrier = saved

    def delta(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert delta("openband_messages_accepted_total") == 1
    assert delta("openband_message_commit_batch_count") == 1  # one request, one group commit
    assert delta("openband_message_recipients_sent_total") == 2
    assert delta("openband_callback_attempts_total", (("outcome", "failed"),)) >= 1
    # The gauges are the database's numbers at the moment of the scrape: read them just before
    # and just after it (equal: nothing changed in between) and compare exactly.
    (queued, n_pending, oldest, t0), (_, _, _, t1) = db_before, db_after
    assert after[("openband_message_recipients_queued", ())] == queued
    assert after[pending] == n_pending and n_pending - before[pending] >= 4
    assert oldest is not None  # this test's events are pending, at least
    age = after[("openband_callbacks_oldest_pending_seconds", ())]
    assert (t0 - oldest).total_seconds() <= age <= (t1 - oldest).total_seconds(), (age, oldest)
    # This process's own resource metrics come along (one process: no multiprocess mode).
    assert ("process_resident_memory_bytes", ()) in after
