"""Issue 12, item 9: secrets at rest.

The attack: whoever gets a copy of the database (a backup, a stolen disk, a world-readable
SQLite file) read every application's callback password in plain text, in applications.config and
again in each outbox row, and the HMAC signing secret could never be set, so a receiver could not
tell OpenBand's callbacks from anyone's.

Now the SQLite file and its companions are 0600 in a 0700 directory, every stored secret is
sealed with a key the database does not hold, a node with other keys refuses to start, keys
rotate, and an application's signing secret is set through the Dashboard or the CLI and signs
its callbacks. Everything runs against real `openband serve` processes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from openband.core import provisioning as prov
from openband.core import sealed_secrets
from openband.delivery import outbox, signing
from openband.sealing import Sealer, SealingError, generate_key, sealed_with
from openband.store import secrets as secrets_repo
from openband.store.db import Database, migrate
from tests.support.cluster import (
    XML,
    Account,
    Hit,
    Messaging,
    Node,
    Receiver,
    base_env,
    basic,
    create_account,
    database,
    handset,
    provision_messaging,
    query,
    wait_until,
)
from tests.support.live import openband_exe

BACKENDS = ["sqlite", "postgres"]
SEALED = "sealed:v1:"
# Every read of an application's config goes to the database (a change applies at once), and
# failed attempts come back quickly.
NODE_ENV = {
    "OPENBAND_MESSAGING_CACHE_SECONDS": "0",
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "2",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.1",
}


# --- helpers -----------------------------------------------------------------------------------


def execute(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """One write from outside the nodes, as an attacker (or an older version) would make it."""
    if database_url.startswith("sqlite"):
        import sqlite3

        path = database_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
            conn.execute(sql, params)
            conn.commit()
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


def as_text(value: object) -> str:
    """A JSON column as stored (SQLite gives the text, psycopg the parsed value)."""
    return value if isinstance(value, str) else json.dumps(value)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [openband_exe(), *args], env=base_env(env), capture_output=True, text=True, timeout=120
    )


def keys_env(*keys: str) -> dict[str, str]:
    return {"OPENBAND_SECRET_KEYS": json.dumps(list(keys))}


@dataclass
class Live:
    """One node with an account whose messaging app calls back to `rx` with Basic creds."""

    backend: str
    url: str
    workdir: Path
    env: dict[str, str]  # the settings the node and the CLI share (where the key is)
    node: Node
    rx: Receiver
    account: Account
    msg: Messaging = field(init=False)
    creds: tuple[str, str] = field(init=False)

    def client(self) -> httpx.Client:
        return self.node.client(self.account)

    def provision(self, name: str) -> tuple[Messaging, tuple[str, str]]:
        creds = (f"{name}-user", f"pw-{secrets.token_hex(12)}")
        with self.client() as c:
            msg = provision_messaging(
                c, self.account.account_id, self.rx.url(f"/{name}"), creds, name=name
            )
        return msg, creds

    def send(self, msg: Messaging) -> str:
        with self.client() as c:
            r = c.post(
                f"/api/v2/users/{self.account.account_id}/messages", json=msg.message(handset())
            )
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def delivered(self, path: str, message_id: str, event_id: str = "", nth: int = 0) -> Hit:
        """The acknowledged message-delivered callback on `path` for that message (the `nth`
        acknowledged request of `event_id` when given: a replay is the second)."""

        def find() -> Hit | None:
            hits = [
                h
                for h in self.rx.callbacks(path)
                if h.acked
                and h.events[0]["type"] == "message-delivered"
                and h.events[0]["message"]["id"] == message_id
                and (not event_id or h.event_id == event_id)
            ]
            return hits[nth] if len(hits) > nth else None

        return wait_until(find, 30, 0.05, f"message-delivered of {message_id} on {path}")

    def app_config(self, app_id: str) -> str:
        [(config,)] = query(self.url, "SELECT config FROM applications WHERE id = ?", (app_id,))
        return as_text(config)


class Lives:
    """One node per backend for the module, started on first use."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.made: dict[str, Live] = {}
        self.stack = contextlib.ExitStack()

    def get(self, backend: str) -> Live:
        if backend not in self.made:
            self.made[backend] = self._start(backend)
        return self.made[backend]

    def _start(self, backend: str) -> Live:
        workdir = self.tmp.mktemp(f"secrets-{backend}")
        env = dict(NODE_ENV)
        if backend == "sqlite":
            # A directory nothing has made yet: openband makes it, and the file in it. The key
            # is generated beside the database (the default data directory).
            url = f"sqlite:///{workdir / 'data' / 'openband.db'}"
        else:
            url = self.stack.enter_context(database(backend, workdir / "db"))
            env["OPENBAND_DATA_DIR"] = str(workdir / "keys")  # the node's and the CLI's key
        rx = self.stack.enter_context(Receiver())
        # What a default umask gives: without the explicit 0600 SQLite would make 0644 files.
        old = os.umask(0o022)
        try:
            account = create_account(url)
            node = Node(workdir, url, name=f"secrets-{backend}", env=env).start()
        finally:
            os.umask(old)
        self.stack.callback(node.stop)
        live = Live(backend, url, workdir, env, node, rx, account)
        live.msg, live.creds = live.provision("status")
        return live

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def lives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lives]:
    made = Lives(tmp_path_factory)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, lives: Lives) -> Live:
    return lives.get(request.param)


# --- the database file -------------------------------------------------------------------------


def test_the_sqlite_file_and_its_companions_are_readable_by_the_owner_only(lives: Lives) -> None:
    live = lives.get("sqlite")
    live.delivered("/status", live.send(live.msg))  # a write: the WAL holds pages now
    db = Path(live.url.split(":///", 1)[1])
    files = [
        db,
        Path(f"{db}-wal"),
        Path(f"{db}-shm"),
        Path(f"{db}.writers"),
        db.parent / "openband.key",
    ]
    for path in files:
        assert path.exists(), path
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


# --- callback passwords ------------------------------------------------------------------------


def test_a_copy_of_the_database_shows_no_callback_password(live: Live) -> None:
    mid = live.send(live.msg)
    hit = live.delivered("/status", mid)
    assert hit.headers["Authorization"] == basic(live.creds)  # the receiver gets the password
    password = live.creds[1]

    config = live.app_config(live.msg.app_id)
    assert password not in config
    assert json.loads(config)["outbound_callback_creds"]["password"].startswith(SEALED)
    rows = query(
        live.url,
        "SELECT auth_user, auth_password FROM callback_events WHERE message_id = ?",
        (mid,),
    )
    assert rows
    for user, sealed in rows:
        assert user == live.creds[0]
        assert sealed.startswith(SEALED) and password not in sealed
    if live.backend == "sqlite":
        # Every byte an attacker with the files gets, the WAL included.
        db = live.url.split(":///", 1)[1]
        for path in (db, f"{db}-wal"):
            assert password.encode() not in Path(path).read_bytes(), path
    else:
        for table in ("applications", "callback_events"):
            dumped = query(live.url, f"SELECT t::text FROM {table} t")
            assert dumped and not any(password in row[0] for row in dumped), table


def test_rows_written_before_sealing_still_deliver(live: Live) -> None:
    msg, creds = live.provision("legacy")
    # An application stored by an older version: its password in plain text.
    legacy_app = f"app-pw-{secrets.token_hex(6)}"
    plain = {
        "inbound_callback_url": live.rx.url("/legacy"),
        "outbound_callback_url": live.rx.url("/legacy"),
        "outbound_callback_creds": {"user_id": creds[0], "password": legacy_app},
    }
    cast = "?" if live.backend == "sqlite" else "CAST(? AS json)"
    execute(
        live.url,
        f"UPDATE applications SET config = {cast} WHERE id = ?",
        (json.dumps(plain), msg.app_id),
    )
    mid = live.send(msg)
    hit = live.delivered("/legacy", mid)
    assert hit.headers["Authorization"] == basic((creds[0], legacy_app))

    # An outbox row enqueued by an older version, replayed: its password in plain text.
    legacy_row = f"row-pw-{secrets.token_hex(6)}"
    execute(
        live.url,
        "UPDATE callback_events SET auth_password = ? WHERE id = ?",
        (legacy_row, hit.event_id),
    )
    r = cli(live.env, "callbacks", "replay", hit.event_id, "--database", live.url)
    assert r.returncode == 0, r.stdout + r.stderr
    again = live.delivered("/legacy", mid, hit.event_id, nth=1)
    assert again.headers["Authorization"] == basic((creds[0], legacy_row))


def test_a_secret_the_node_cannot_open_is_never_sent_without_it(live: Live) -> None:
    """A value sealed with a key this node lacks (written by a node with other keys, or a key
    dropped before its rotation): the callback is not sent with a wrong or empty password. The
    outbox row fails its attempts, kept for when the key is back; an application whose config
    cannot be opened gets no callbacks while its messages still move."""
    msg, creds = live.provision("unopenable")
    mid = live.send(msg)
    hit = live.delivered("/unopenable", mid)
    foreign = Sealer([generate_key()]).seal("from another key")
    execute(
        live.url,
        "UPDATE callback_events SET auth_password = ? WHERE id = ?",
        (foreign, hit.event_id),
    )
    r = cli(live.env, "callbacks", "replay", hit.event_id, "--database", live.url)
    assert r.returncode == 0, r.stdout + r.stderr

    def failed_attempt() -> bool:
        rows = query(
            live.url, "SELECT error FROM callback_attempts WHERE event_id = ?", (hit.event_id,)
        )
        return any(e and "cannot open the stored secret" in e for (e,) in rows)

    wait_until(failed_attempt, 30, 0.05, "the failed attempt")
    assert [h.attempt for h in live.rx.callbacks("/unopenable") if h.event_id == hit.event_id] == [
        0
    ]

    config = json.loads(live.app_config(msg.app_id))
    config["outbound_callback_creds"]["password"] = foreign
    cast = "?" if live.backend == "sqlite" else "CAST(? AS json)"
    execute(
        live.url,
        f"UPDATE applications SET config = {cast} WHERE id = ?",
        (json.dumps(config), msg.app_id),
    )
    mid = live.send(msg)

    def final() -> bool:
        rows = query(live.url, "SELECT status FROM message_recipients WHERE message_id = ?", (mid,))
        return bool(rows) and rows[0][0] == "DELIVERED"

    wait_until(final, 30, 0.05, "the message delivered")
    # The status moved; its callback would have been enqueued in the same transaction.
    assert query(live.url, "SELECT id FROM callback_events WHERE message_id = ?", (mid,)) == []
    assert creds[1] not in live.node.log_tail(400)


def test_a_tampered_sealed_value_is_refused() -> None:
    sealer = Sealer([generate_key()])
    token = sealer.seal("hunter2")
    assert sealer.open(token) == "hunter2" and "hunter2" not in token
    head, _, fernet = token.rpartition(":")
    i = len(fernet) // 2
    flipped = f"{head}:{fernet[:i]}{'B' if fernet[i] == 'A' else 'A'}{fernet[i + 1 :]}"
    for forged in (flipped, token[:-8]):  # a bit changed; cut short
        with pytest.raises(SealingError):
            sealer.open(forged)
    # Another key's value names a key this sealer does not have: refused, not guessed at.
    with pytest.raises(SealingError, match="secret_keys"):
        Sealer([generate_key()]).open(token)
    assert "hunter2" not in repr(sealer) and generate_key() not in repr(sealer)


# --- keys: a node with other keys, rotation ------------------------------------------------------


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError("the node started with the wrong key kept running") from None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_node_with_another_key_refuses_to_start(backend: str, tmp_path: Path) -> None:
    """Two nodes of one database, each left to generate its own key (the multi-node mistake):
    the second stops at start and says which setting to fix, before it seals anything."""
    with database(backend, tmp_path / "db") as url:
        create_account(url)
        first = Node(
            tmp_path / "a", url, name="first", env={"OPENBAND_DATA_DIR": str(tmp_path / "a")}
        )
        first.start()
        first.stop()
        second = Node(
            tmp_path / "b", url, name="second", env={"OPENBAND_DATA_DIR": str(tmp_path / "b")}
        )
        with pytest.raises(RuntimeError, match="exited with") as info:
            second.start()
        assert second.proc is not None and _wait_exit(second.proc) != 0
        assert "secret_keys" in str(info.value) and "cannot open" in str(info.value)
        # The CLI refuses the same way rather than seal with the wrong key.
        r = cli({"OPENBAND_DATA_DIR": str(tmp_path / "b")}, "secrets", "rotate", "--database", url)
        assert r.returncode == 1 and "secret_keys" in r.stdout
        # With the first node's key it starts.
        second.env = {"OPENBAND_DATA_DIR": str(tmp_path / "a")}
        second.start()
        second.stop()


async def _sealed_with_a(url: str, sealer: Sealer, rx: Receiver, secret: str) -> tuple[str, str]:
    """An application and a pending callback, both sealed with `sealer` (key A), as the node
    that wrote them would have; the callback goes to `rx` when a node delivers it."""
    db = Database(url, pool_size=2)
    try:
        await sealed_secrets.check_keys(db, sealer)
        async with db.begin() as conn:
            from openband.core import accounts

            account = str(9_000_000 + secrets.randbelow(900_000))
            await accounts.create_account(
                conn,
                accounts.NewAccount(account_id=account, username=f"u-{account}", password="pw"),
            )
            app = await prov.create_application(
                conn,
                account,
                prov.ApplicationInput(
                    service_type="Messaging-V2",
                    name="rotated",
                    config={
                        "outbound_callback_url": rx.url("/rotated"),
                        "outbound_callback_creds": prov.Credentials("rot-user", "rot-pw"),
                        "signing_secret": secret,
                    },
                ),
                sealer=sealer,
            )
            [event] = await outbox.enqueue(
                conn,
                [
                    outbox.Webhook(
                        account_id=account,
                        application_id=app.id,
                        kind="messaging",
                        url=rx.url("/rotated"),
                        body='[{"type":"message-delivered"}]',
                        event_type="message-delivered",
                        ordering_key=f"rotated:{account}",
                        auth=("rot-user", "rot-pw"),
                        signing_secret=secret,
                    )
                ],
                sealer=sealer,
            )
        return app.id, event
    finally:
        await db.dispose()


async def _opens_everything(url: str, sealer: Sealer) -> list[str]:
    """Every stored secret, opened with `sealer` (SealingError if one cannot be)."""
    db = Database(url, pool_size=2)
    try:
        await sealed_secrets.check_keys(db, sealer)
        out: list[str] = []
        async with db.begin() as conn:
            for app in await secrets_repo.application_configs(conn, "", 1000):
                config = prov.ApplicationConfig.load(app.service_type, app.config, sealer)
                m = config.messaging
                if m.outbound_creds is not None:
                    out.append(m.outbound_creds.password)
                if config.signing_secret:
                    out.append(config.signing_secret)
            for ev in await secrets_repo.event_secrets(conn, "", 1000):
                out += [sealer.open(v) for v in (ev.auth_password, ev.signing_secret) if v]
        return out
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotation_lets_the_old_key_go(backend: str, tmp_path: Path) -> None:
    key_a, key_b = generate_key(), generate_key()
    a, b = Sealer([key_a]), Sealer([key_b])
    secret = secrets.token_urlsafe(24)
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        migrate(url)
        app_id, event_id = asyncio.run(_sealed_with_a(url, a, rx, secret))
        # A plaintext value from before sealing is sealed by the rotation too.
        execute(
            url, "UPDATE callback_events SET signing_secret = ? WHERE id = ?", (secret, event_id)
        )

        # The new key first, the old one still listed: rotate, twice (the second finds nothing).
        r = cli(keys_env(key_b, key_a), "secrets", "rotate", "--database", url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 secrets in 1 applications, 2 in 1 callback events" in r.stdout
        assert "key check re-sealed" in r.stdout
        r = cli(keys_env(key_b, key_a), "secrets", "rotate", "--database", url)
        assert r.returncode == 0 and "nothing to do" in r.stdout, r.stdout + r.stderr

        # The new key alone opens everything; nothing names the old one any more.
        assert sorted(asyncio.run(_opens_everything(url, b))) == sorted(
            ["rot-pw", secret, "rot-pw", secret]
        )
        [(config,)] = query(url, "SELECT config FROM applications WHERE id = ?", (app_id,))
        [(pw, sig)] = query(
            url,
            "SELECT auth_password, signing_secret FROM callback_events WHERE id = ?",
            (event_id,),
        )
        for value in (pw, sig):
            assert sealed_with(value) == b.key_id
        assert a.key_id not in as_text(config) and b.key_id in as_text(config)
        # ...and the old key alone no longer does.
        with pytest.raises(SealingError, match="secret_keys"):
            asyncio.run(_opens_everything(url, a))

        # A node with only the new key starts and sends the callback sealed with the old one.
        node = Node(tmp_path / "node", url, name="rotated", env={**NODE_ENV, **keys_env(key_b)})
        node.start()
        try:
            hit = wait_until(
                lambda: next(iter(rx.callbacks("/rotated")), None), 30, 0.05, "callback"
            )
        finally:
            node.stop()
        assert hit.headers["Authorization"] == basic(("rot-user", "rot-pw"))
        assert signing.verify(secret, hit.body, hit.headers[signing.SIGNATURE_HEADER])


def test_a_malformed_key_is_refused_with_the_setting_to_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ob.db'}"
    r = cli(keys_env("not-a-key"), "secrets", "rotate", "--database", url)
    assert r.returncode == 1
    assert "secret_keys[0]" in r.stdout and "is not a key" in r.stdout
    assert "not-a-key" not in r.stdout  # the value itself is never shown


# --- signing secrets ---------------------------------------------------------------------------


def _signed_by(hit: Hit, secret: str) -> bool:
    return signing.verify(secret, hit.body, hit.headers.get(signing.SIGNATURE_HEADER))


def test_a_signed_callback_verifies_at_the_receiver(live: Live) -> None:
    msg, _ = live.provision("signed")
    acct, app = live.account.account_id, msg.app_id
    path = f"/api/accounts/{acct}/applications/{app}"
    first = secrets.token_urlsafe(24)

    # The Dashboard element: accepted, never echoed, stored sealed.
    with live.client() as c:
        r = c.patch(
            path,
            content=f"<Application><OpenBandSigningSecret>{first}</OpenBandSigningSecret></Application>",
            headers=XML,
        )
        assert r.status_code == 200, r.text
        assert first not in r.text and "OpenBandSigningSecret" not in r.text
        got = c.get(path)
        assert first not in got.text
        bad = c.patch(
            path,
            content="<Application><OpenBandSigningSecret>short secret</OpenBandSigningSecret></Application>",
            headers=XML,
        )
        assert bad.status_code == 400 and "short secret" not in bad.text
    assert first not in live.app_config(app)
    hit = live.delivered("/signed", live.send(msg))
    assert _signed_by(hit, first)
    assert not _signed_by(hit, first + "x")
    [(stored,)] = query(
        live.url, "SELECT signing_secret FROM callback_events WHERE id = ?", (hit.event_id,)
    )
    assert stored.startswith(SEALED) and first not in stored

    # A GET-modify-PUT round trip (which cannot carry the secret) keeps it.
    with live.client() as c:
        doc = c.get(path).text
        body = doc.split("<Application>", 1)[1].split("</Application>", 1)[0]
        r = c.put(path, content=f"<Application>{body}</Application>", headers=XML)
        assert r.status_code == 200, r.text
    assert _signed_by(live.delivered("/signed", live.send(msg)), first)

    # The operator's command: a generated secret, printed once, replaces it.
    r = cli(
        live.env, "applications", "set-signing-secret", app, "--generate", "--database", live.url
    )
    assert r.returncode == 0, r.stdout + r.stderr
    generated = r.stdout.strip().splitlines()[-1]
    assert len(generated) >= 32 and generated not in live.app_config(app)
    hit = live.delivered("/signed", live.send(msg))
    assert _signed_by(hit, generated) and not _signed_by(hit, first)

    # Removed: callbacks go out unsigned.
    r = cli(live.env, "applications", "set-signing-secret", app, "--remove", "--database", live.url)
    assert r.returncode == 0, r.stdout + r.stderr
    hit = live.delivered("/signed", live.send(msg))
    assert signing.SIGNATURE_HEADER not in hit.headers


def test_the_cli_names_an_application_that_does_not_exist(live: Live) -> None:
    r = cli(
        live.env,
        "applications", "set-signing-secret", "00000000-0000-0000-0000-000000000000",
        "--secret", "a-secret-of-enough-length", "--database", live.url,
    )  # fmt: skip
    assert r.returncode == 1 and "not found" in r.stdout
