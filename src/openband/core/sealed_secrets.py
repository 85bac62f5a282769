"""Every stored secret at once: the key check a node makes at start, and key rotation.

Secrets are sealed where they are written (core/provisioning for applications.config,
delivery/outbox for callback_events) and opened where they are used; this module only deals
with all of them together. See docs/security.md, "Secrets at rest".
"""

from __future__ import annotations

from dataclasses import dataclass

from openband.core.provisioning.config import reseal_secrets
from openband.sealing import Sealer
from openband.store import secrets as repo
from openband.store.db import Database

# Rows per transaction: short ones, since on SQLite every writer waits for the lock they hold.
BATCH = 200


@dataclass
class Rotation:
    """What `rotate` changed (values: secrets re-sealed; rows: the rows holding them)."""

    applications: int = 0
    application_values: int = 0
    events: int = 0
    event_values: int = 0
    check: bool = False  # the key check value was re-sealed

    @property
    def changed(self) -> bool:
        return bool(self.applications or self.events or self.check)


async def check_keys(db: Database, sealer: Sealer) -> None:
    """At start: sealing.SealingError (store/secrets.KeyMismatch), saying which setting to fix,
    when this node's keys cannot open what the database holds."""
    async with db.begin() as conn:
        await repo.check_keys(conn, sealer)


async def rotate(db: Database, sealer: Sealer) -> Rotation:
    """Re-seal every stored secret not sealed with the first key (plaintext left from before
    sealing included): application configs, then every outbox event that holds one (a finished
    event can be replayed), then the key check value, last, so that it names the new key only
    once nothing needs the old one. Idempotent; safe beside running nodes that have every key;
    a value no key opens stops it with sealing.SealingError (what it did so far stays done)."""
    await check_keys(db, sealer)
    out = Rotation()
    after = ""
    while True:
        async with db.begin() as conn:
            apps = await repo.application_configs(conn, after, BATCH)
            for app in apps:
                config, changed = reseal_secrets(app.config, sealer)
                if changed:
                    await repo.set_application_config(conn, app.id, config)
                    out.applications += 1
                    out.application_values += changed
        if len(apps) < BATCH:
            break
        after = apps[-1].id
    after = ""
    while True:
        async with db.begin() as conn:
            events = await repo.event_secrets(conn, after, BATCH)
            todo: list[repo.EventSecrets] = []
            for ev in events:
                pw, secret = ev.auth_password, ev.signing_secret
                stale = [v for v in (pw, secret) if v is not None and not sealer.is_current(v)]
                if stale:
                    todo.append(
                        repo.EventSecrets(
                            ev.id,
                            sealer.reseal(pw) if pw is not None else None,
                            sealer.reseal(secret) if secret is not None else None,
                        )
                    )
                    out.event_values += len(stale)
            await repo.set_event_secrets(conn, todo)
            out.events += len(todo)
        if len(events) < BATCH:
            break
        after = events[-1].id
    async with db.begin() as conn:
        out.check = await repo.reseal_check(conn, sealer)
    return out
