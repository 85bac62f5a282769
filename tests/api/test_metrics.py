"""GET /metrics: Prometheus text with the messaging and callback counters and the database
gauges, without credentials (like /health)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

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
        after = scrape(harness)
    finally:
        messaging.carrier = saved

    def delta(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert delta("openband_messages_accepted_total") == 1
    assert delta("openband_message_commit_batch_count") >= 1
    assert delta("openband_message_recipients_sent_total") == 2
    assert delta("openband_callback_attempts_total", (("outcome", "failed"),)) >= 1
    assert after[("openband_callbacks_oldest_pending_seconds", ())] >= 0
    # This process's own resource metrics come along (one process: no multiprocess mode).
    assert ("process_resident_memory_bytes", ()) in after
