from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from openband import cli
from openband.cli import app
from openband.clock import now
from openband.store import callbacks as repo
from openband.store.db import Database, migrate
from tests.support.outbox import enqueue_event


def _seed(url: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        db = Database(url)
        try:
            async with db.begin() as conn:
                done = await enqueue_event(
                    conn,
                    account_id="a",
                    application_id="app",
                    kind="messaging",
                    url="http://127.0.0.1:1/cb",
                    body_events={"type": "message-sending"},
                    auth=None,
                    ordering_key="m1:+1",
                    message_id="m1",
                )
                waiting = await enqueue_event(
                    conn,
                    account_id="a",
                    application_id="app",
                    kind="messaging",
                    url="http://127.0.0.1:1/cb",
                    body_events={"type": "message-delivered"},
                    auth=None,
                    ordering_key="m1:+1",
                    message_id="m1",
                )
            lease = timedelta(seconds=60)
            async with db.begin() as conn:
                (ev,) = await repo.claim(conn, "w", 10, lease, postgres=False)
                assert ev.id == done  # the second waits for the first (same ordering key)
                failed = repo.Outcome(ev.id, now(), 500, 12.5, "HTTP 500", False, 0, ev.expires_at)
                await repo.record(conn, "w", [failed], retry_base=0.01, retry_cap=0.01)
            await asyncio.sleep(0.05)
            async with db.begin() as conn:
                (ev,) = await repo.claim(conn, "w", 10, lease, postgres=False)
                assert ev.id == done
                ok = repo.Outcome(ev.id, now(), 200, 3.0, None, True, 1, ev.expires_at)
                await repo.record(conn, "w", [ok], retry_base=0.01, retry_cap=0.01)
            return done, waiting
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_callbacks_list_and_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    done, waiting = _seed(url)
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    # The module's console was sized when first imported (maybe by another test): widen it.
    monkeypatch.setattr(cli, "console", Console(width=250))
    res = runner.invoke(app, ["callbacks", "list", "--message", "m1", "--database", url], env=env)
    assert res.exit_code == 0, res.output
    assert done in res.output and waiting in res.output
    assert "delivered" in res.output and "pending" in res.output
    assert "500" in res.output and "HTTP 500" in res.output and "200" in res.output

    res = runner.invoke(app, ["callbacks", "list", "--event", done, "--database", url], env=env)
    assert done in res.output and waiting not in res.output

    res = runner.invoke(app, ["callbacks", "replay", done, "--database", url])
    assert res.exit_code == 0 and "queued" in res.output

    async def status() -> str:
        db = Database(url)
        async with db.connect() as conn:
            row = await repo.get_event(conn, done)
        await db.dispose()
        assert row is not None
        return row.status

    assert asyncio.run(status()) == repo.PENDING
    res = runner.invoke(app, ["callbacks", "replay", done, "--database", url])
    assert res.exit_code == 0 and "still pending" in res.output
    res = runner.invoke(app, ["callbacks", "replay", "nope", "--database", url])
    assert res.exit_code == 1 and "no callback event" in res.output
