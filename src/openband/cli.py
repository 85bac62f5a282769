"""The `openband` command: serve, accounts, inventory.

Every command that touches data takes --database (or OPENBAND_DATABASE_URL) like `serve`, and
works while a server runs on the same database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from openband.config import Settings, load_settings, loopback_only

app = typer.Typer(no_args_is_help=True, help="OpenBand: a self-hosted, Bandwidth-compatible CPaaS.")
accounts_app = typer.Typer(no_args_is_help=True, help="Manage accounts and their credentials.")
app.add_typer(accounts_app, name="accounts")
console = Console()
log = logging.getLogger(__name__)

T = TypeVar("T")

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="sqlite:///path or postgresql://… (OPENBAND_DATABASE_URL)"),
]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML settings file")]


def _settings(database: str | None, config: str | None = None, **kw: object) -> Settings:
    return load_settings(config, database_url=database, **kw)


def run_with_db(settings: Settings, fn: Callable[..., Awaitable[T]]) -> T:
    """Migrate, then run `fn(db)` against the configured database."""
    from openband.store.db import Database, migrate

    migrate(settings.database_url)

    async def go() -> T:
        db = Database(settings.database_url, pool_size=2)
        try:
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="text or json")] = None,
    production: Annotated[
        bool | None, typer.Option("--production/--development", help="Strict defaults")
    ] = None,
    allow_loopback_urls: Annotated[
        bool | None,
        typer.Option(
            "--allow-loopback-urls/--refuse-loopback-urls",
            help="Let callback and media URLs reach this machine's loopback (default: only "
            "while listening on loopback alone).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port, each with its own background workers. "
            "One per core: 2 on a 2-core machine (docs/benchmarks.md, Messaging).",
        ),
    ] = 1,
    delivery_processes: Annotated[
        int | None,
        typer.Option(
            "--delivery-processes",
            min=0,
            max=16,
            help="Deliver callbacks from N processes of their own (0: in each server process). "
            "1 keeps callbacks in step with 2,000+ messages/s (docs/benchmarks.md, Messaging).",
        ),
    ] = None,
) -> None:
    """Run the APIs and the background workers (in one process, or --workers N)."""
    from openband import logs

    settings = _settings(
        database,
        config,
        host=host,
        port=port,
        log_format=log_format,
        production=production,
        delivery_processes=delivery_processes,
        ssrf_allow_loopback=allow_loopback_urls,
    )
    logs.configure(settings.log_format, settings.log_level)
    several = workers > 1 or settings.delivery_processes > 0
    metrics_dir = _metrics_dir() if several or os.environ.get("PROMETHEUS_MULTIPROC_DIR") else None
    if settings.dev_account:
        _ensure_dev_account(settings)
    console.print(
        f"OpenBand listening on http://{settings.host}:{settings.port} "
        f"(database {settings.database_url})",
        highlight=False,
        soft_wrap=True,
    )
    if settings.ssrf_allow_loopback and not loopback_only(settings.host):
        console.print(
            "Loopback URLs are allowed for callbacks and media although this server is "
            "reachable from other hosts (--allow-loopback-urls / OPENBAND_SSRF_ALLOW_LOOPBACK)",
            highlight=False,
            soft_wrap=True,
        )
    supervisor = None
    if settings.delivery_processes > 0:
        from openband.delivery.process import Supervisor
        from openband.store.db import migrate

        migrate(settings.database_url)  # before any process opens the database
        namespace = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        settings = settings.model_copy(update={"delivery_namespace": namespace})
        supervisor = Supervisor(_settings_env(settings), settings.delivery_processes)
        supervisor.start()
    try:
        _serve(settings, workers)
    finally:
        if supervisor is not None:
            supervisor.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> str | None:
    """Before `serve` starts more than one process: a clean directory for the processes' metric
    files (openband/metrics.py), exported in the environment they inherit. It must be set before
    prometheus_client is first imported, here as in every child. A directory the operator set
    is used and emptied (an earlier run's files would add to this one's counts); otherwise a
    temporary one, whose path is returned for removal at exit."""
    if "prometheus_client" in sys.modules:  # a bug: this process would count on its own
        log.warning("prometheus_client imported before the metrics directory was set")
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return None
    made = tempfile.mkdtemp(prefix="openband-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def _serve(settings: Settings, workers: int) -> None:
    import uvicorn

    from openband.server import create_app

    if workers > 1:
        from openband.store.db import migrate

        migrate(settings.database_url)  # once, before the workers start
        os.environ.update(_settings_env(settings))
        uvicorn.run(
            "openband.server:create_worker_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # the client is the TCP peer (see auth_trusted_proxies)
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # uvicorn would otherwise take X-Forwarded-For from any client on 127.0.0.1 as the
        # client's address; the failure limiter trusts it only when a setting says so.
        proxy_headers=False,
    )


def _settings_env(settings: Settings) -> dict[str, str]:
    """The settings as OPENBAND_* variables, for the worker processes to load the same ones."""
    import json

    out: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        out[f"OPENBAND_{name.upper()}"] = text
    return out


def _ensure_dev_account(settings: Settings) -> None:
    from openband.core import accounts as core
    from openband.errors import Conflict
    from openband.store import accounts as repo

    async def go(db) -> core.NewAccount | None:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            if await repo.count_accounts(conn):
                return None
            spec = core.generate_dev_account()
            try:
                await core.create_account(conn, spec)
            except Conflict:  # another node created it first
                return None
            return spec

    spec = run_with_db(settings, go)
    if spec is None:
        return
    console.print("[bold]Created the development account[/bold] (shown once; keep it):")
    console.print(f"  account id     {spec.account_id}", highlight=False)
    console.print(f"  username       {spec.username}", highlight=False)
    console.print(f"  password       {spec.password}", highlight=False)
    console.print(f"  v1 userId      {spec.v1_user_id}", highlight=False)
    console.print(f"  v1 apiToken    {spec.api_token}", highlight=False)
    console.print(f"  v1 apiSecret   {spec.api_secret}", highlight=False)


@accounts_app.command("create")
def accounts_create(
    account_id: Annotated[str, typer.Option("--account-id", help="e.g. 9900001")],
    username: Annotated[str, typer.Option(help="Dashboard / v2 API username")],
    password: Annotated[str, typer.Option(help="Dashboard / v2 API password")],
    user_id: Annotated[str | None, typer.Option("--user-id", help="v1 userId (u-…)")] = None,
    api_token: Annotated[str | None, typer.Option("--api-token", help="v1 apiToken")] = None,
    api_secret: Annotated[str | None, typer.Option("--api-secret", help="v1 apiSecret")] = None,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    limits: Annotated[
        str,
        typer.Option(
            "--limits",
            help="Messaging limits: 'none' (default) or 'bandwidth' (1 segment/s per account "
            "and per number, a queue of 15 minutes of that rate)",
        ),
    ] = "none",
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create an account with its Dashboard/v2 and (optionally) v1 credentials."""
    from openband.core import accounts as core
    from openband.core.ratelimit import PRESETS
    from openband.errors import CoreError

    if bool(api_token) != bool(api_secret):
        raise typer.BadParameter("--api-token and --api-secret go together")
    if limits not in PRESETS:
        raise typer.BadParameter(f"--limits must be one of {', '.join(PRESETS)}")
    spec = core.NewAccount(
        account_id=account_id,
        username=username,
        password=password,
        v1_user_id=user_id,
        api_token=api_token,
        api_secret=api_secret,
        name=name,
        limits=dict(PRESETS[limits]) or None,
    )

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            await core.create_account(conn, spec)

    try:
        run_with_db(_settings(database, config), go)
    except CoreError as exc:
        console.print(f"[red]error:[/red] {exc.description}")
        raise typer.Exit(1) from exc
    console.print(f"created account {account_id}", highlight=False)


@accounts_app.command("list")
def accounts_list(database: DatabaseOpt = None, config: ConfigOpt = None) -> None:
    """List accounts and the principals (usernames, API tokens) that can act for them."""
    from openband.store import accounts as repo

    async def go(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            return await repo.list_accounts(conn)

    rows = run_with_db(_settings(database, config), go)
    table = Table("account id", "name", "v1 userId", "credentials", "created")
    for acct, creds in rows:
        table.add_row(
            acct.id, acct.name, acct.v1_user_id or "", ", ".join(creds), str(acct.created_at)
        )
    console.print(table)


@accounts_app.command("set-password")
def accounts_set_password(
    username: Annotated[str, typer.Option(help="Username (or v1 apiToken with --v1)")],
    password: Annotated[str, typer.Option(help="The new password / apiSecret")],
    v1: Annotated[bool, typer.Option("--v1", help="Change a v1 apiSecret")] = False,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change a password; running servers stop accepting the old one within seconds."""
    from openband.core import accounts as core
    from openband.errors import CoreError

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            await core.set_password(
                conn, core.KIND_V1 if v1 else core.KIND_BASIC, username, password
            )

    try:
        run_with_db(_settings(database, config), go)
    except CoreError as exc:
        console.print(f"[red]error:[/red] {exc.description}")
        raise typer.Exit(1) from exc
    console.print("password changed")


# --- callbacks (delivery outbox) -----------------------------------------------------------

callbacks_app = typer.Typer(no_args_is_help=True, help="Inspect and replay webhook deliveries.")
app.add_typer(callbacks_app, name="callbacks")


@callbacks_app.command("list")
def callbacks_list(
    message: Annotated[str | None, typer.Option("--message", help="Message id")] = None,
    event: Annotated[str | None, typer.Option("--event", help="Event id")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most recent N events")] = 50,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every callback event with each delivery attempt (time, status, latency, next retry)."""
    from openband.clock import iso
    from openband.store import callbacks as repo

    async def go(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            events = await repo.list_events(conn, message_id=message, event_id=event, limit=limit)
            return events, await repo.attempts_for(conn, [e.id for e in events])

    events, attempts = run_with_db(_settings(database, config), go)
    table = Table(show_lines=True)
    # Ids stay whole (people copy them into `callbacks replay`); the other columns fold.
    table.add_column("event id", no_wrap=True, min_width=36)
    for col in ("type", "url", "status", "attempts", "next retry"):
        table.add_column(col, overflow="fold")
    for ev in events:
        lines = [
            f"{iso(a.at)}  {a.status_code if a.status_code is not None else '---'}  "
            f"{a.latency_ms:.0f} ms" + (f"  {a.error}" if a.error else "")
            for a in attempts.get(ev.id, [])
        ]
        nxt = iso(ev.next_attempt_at) if ev.status == repo.PENDING else ""
        table.add_row(ev.id, ev.event_type, ev.url, ev.status, "\n".join(lines) or "-", nxt or "")
    console.print(table)
    if not events:
        console.print("no callback events match")


@callbacks_app.command("replay")
def callbacks_replay(
    event_id: Annotated[str, typer.Argument(help="Event id (X-OpenBand-Event-Id)")],
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send an event again, with the same event id and body."""
    from datetime import timedelta

    from openband.store import callbacks as repo

    settings = _settings(database, config)

    async def go(db) -> str:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            if await repo.replay(conn, event_id, timedelta(hours=settings.callback_retry_hours)):
                return "ok"
            row = await repo.get_event(conn, event_id)
            return "missing" if row is None else row.status

    outcome = run_with_db(settings, go)
    if outcome == "missing":
        console.print(f"[red]error:[/red] no callback event {event_id}", highlight=False)
        raise typer.Exit(1)
    if outcome != "ok":
        console.print(f"event {event_id} is still {outcome}; it will be sent", highlight=False)
        return
    console.print(f"event {event_id} queued for delivery", highlight=False)


# --- inventory ---------------------------------------------------------------------------

handsets_app = typer.Typer(
    no_args_is_help=True,
    help="The simulator's handsets: platform-wide default scripts (each account's own scripts, "
    "set through /sim/v1/handsets, come first).",
)
app.add_typer(handsets_app, name="handsets")


@handsets_app.command("set-default")
def handsets_set_default(
    number: Annotated[str, typer.Argument(help="The handset, e.g. +19195550123")],
    mode: Annotated[str, typer.Option(help="deliver, fail, never_confirm or opt_out")] = "deliver",
    error_code: Annotated[
        int | None, typer.Option("--error-code", help="mode fail: a messaging error code")
    ] = None,
    delay: Annotated[float, typer.Option(help="seconds until the final receipt")] = 0.0,
    auto_reply: Annotated[
        str | None, typer.Option("--auto-reply", help="{text}: what it got")
    ] = None,
    auto_reply_delay: Annotated[float, typer.Option("--auto-reply-delay")] = 0.0,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Script a handset for every account that has not scripted it itself."""
    from openband.core import simulator
    from openband.errors import CoreError

    behaviour = simulator.Behaviour(mode, error_code, delay, auto_reply, auto_reply_delay)  # type: ignore[arg-type]

    async def go(db) -> tuple[str, simulator.Behaviour]:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            return await simulator.set_default(conn, number, behaviour)

    try:
        tn, _ = run_with_db(_settings(database, config), go)
    except CoreError as exc:
        console.print(f"[red]error:[/red] {exc.description}")
        raise typer.Exit(1) from exc
    console.print(f"default script of {tn}: {mode}", highlight=False)


@handsets_app.command("reset-default")
def handsets_reset_default(
    number: Annotated[str, typer.Argument(help="The handset")],
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove a handset's platform-wide default script."""
    from openband.core import simulator

    async def go(db) -> bool:  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            return await simulator.reset_default(conn, number)

    gone = run_with_db(_settings(database, config), go)
    console.print("removed" if gone else "no default script", highlight=False)


@handsets_app.command("defaults")
def handsets_defaults(database: DatabaseOpt = None, config: ConfigOpt = None) -> None:
    """The platform-wide default scripts."""
    from openband.core import simulator

    async def go(db) -> list[tuple[str, simulator.Behaviour]]:  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            return await simulator.defaults(conn)

    table = Table("number", "mode", "error code", "delay s", "auto reply")
    for tn, b in run_with_db(_settings(database, config), go):
        table.add_row(
            tn, b.mode, str(b.error_code or ""), f"{b.delay_seconds:g}", b.auto_reply or ""
        )
    console.print(table)


inventory_app = typer.Typer(no_args_is_help=True, help="Number inventory: import, stats, clear.")
app.add_typer(inventory_app, name="inventory")


@inventory_app.command("import")
def inventory_import(
    file: Annotated[str, typer.Argument(help="CSV: number,city,state,rate_center,lata[,zip]")],
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import number blocks; once the table has rows it replaces the generated inventory."""
    from pathlib import Path

    from openband.core.inventory import import_csv
    from openband.store.db import make_sync_engine, migrate

    path = Path(file)
    if not path.is_file():
        raise typer.BadParameter(f"{file} is not a file")
    settings = _settings(database, config)
    migrate(settings.database_url)
    engine = make_sync_engine(settings.database_url)
    try:
        report = import_csv(engine, path)
    finally:
        engine.dispose()
    console.print(
        f"imported {report.imported} of {report.rows} rows in {report.seconds:.1f}s "
        f"({report.rate:,.0f} rows/s); rejected {report.rejected}",
        highlight=False,
    )
    for err in report.errors:
        console.print(f"  [red]{err}[/red]", highlight=False)
    if report.rejected:
        raise typer.Exit(1)


@inventory_app.command("stats")
def inventory_stats(database: DatabaseOpt = None, config: ConfigOpt = None) -> None:
    """Counts of the inventory in use (imported table, or the generated NANP inventory)."""
    from openband.core.inventory import Inventory, exchange_index
    from openband.store import inventory as repo

    settings = _settings(database, config)

    async def go(db):  # type: ignore[no-untyped-def]
        async with db.connect() as conn:
            return await repo.imported_stats(conn)

    stats = run_with_db(settings, go)
    table = Table("inventory", "value")
    if stats["numbers"]:
        table.add_row("source", "imported")
        for k, v in stats.items():
            table.add_row(k.replace("_", " "), f"{v:,}")
    else:
        inv = Inventory(settings)
        exchanges, total = inv.generated_size()
        idx = exchange_index()
        table.add_row("source", "generated (NANP)")
        table.add_row("exchanges", f"{exchanges:,}")
        table.add_row("lines per exchange", f"{settings.inventory_lines_per_exchange:,}")
        table.add_row("numbers (incl. toll free)", f"{total:,}")
        table.add_row("index memory", f"{idx.memory_bytes / 1e6:.1f} MB")
    console.print(table)


@inventory_app.command("clear")
def inventory_clear(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Delete the imported inventory (owned numbers stay owned); the generated one returns."""
    from openband.store import inventory as repo

    if not yes:
        typer.confirm("Delete every imported inventory number?", abort=True)

    async def go(db):  # type: ignore[no-untyped-def]
        async with db.begin() as conn:
            return await repo.clear_imported(conn)

    removed = run_with_db(_settings(database, config), go)
    console.print(f"removed {removed:,} imported numbers", highlight=False)


# --- applications and secrets at rest (sealing.py; docs/security.md, "Secrets at rest") --

applications_app = typer.Typer(no_args_is_help=True, help="Application settings for the operator.")
app.add_typer(applications_app, name="applications")
secrets_app = typer.Typer(no_args_is_help=True, help="The keys that seal stored secrets.")
app.add_typer(secrets_app, name="secrets")


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@applications_app.command("set-signing-secret")
def applications_set_signing_secret(
    app_id: Annotated[str, typer.Argument(help="Application id")],
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            help="The secret: 16 to 255 printable ASCII characters, no spaces; '-' reads it "
            "from stdin (a value on the command line stays in the shell's history)",
        ),
    ] = None,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a secret and print it (once)")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Stop signing the application's callbacks")
    ] = False,
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set the key that signs an application's callbacks (X-OpenBand-Signature, docs/webhooks.md).
    Stored sealed; never shown again."""
    from openband.core import provisioning as core
    from openband.core import sealed_secrets
    from openband.errors import CoreError
    from openband.sealing import Sealer, SealingError

    if (secret is not None) + generate + remove != 1:
        raise typer.BadParameter("give one of --secret, --generate or --remove")
    if generate:
        secret = core.generate_signing_secret()
    elif secret == "-":
        secret = sys.stdin.readline().strip()
    settings = _settings(database, config)

    async def go(db) -> None:  # type: ignore[no-untyped-def]
        await sealed_secrets.check_keys(db, sealer)
        async with db.begin() as conn:
            await core.set_signing_secret(conn, app_id, None if remove else secret, sealer=sealer)

    try:
        sealer = Sealer.from_settings(settings)
        run_with_db(settings, go)
    except CoreError as exc:
        raise _fail(exc.description) from exc
    except SealingError as exc:
        raise _fail(str(exc)) from exc
    seconds = settings.messaging_cache_seconds
    if remove:
        console.print(f"application {app_id}: callbacks no longer signed", highlight=False)
        return
    console.print(
        f"application {app_id}: callbacks signed from now on (running servers: within "
        f"{seconds:g} s)",
        highlight=False,
        soft_wrap=True,
    )
    if generate:
        console.print("signing secret (shown once; give it to the receiver):", highlight=False)
        print(secret)


@secrets_app.command("rotate")
def secrets_rotate(database: DatabaseOpt = None, config: ConfigOpt = None) -> None:
    """Re-seal every stored secret with the first of secret_keys (plaintext from before sealing
    too). Run it after putting a new key first on every node; drop the old key after. Safe to
    run again."""
    from openband.core import sealed_secrets
    from openband.sealing import Sealer, SealingError

    settings = _settings(database, config)
    try:
        sealer = Sealer.from_settings(settings)
        out = run_with_db(settings, lambda db: sealed_secrets.rotate(db, sealer))
    except SealingError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"re-sealed with key {sealer.key_id}: {out.application_values} secrets in "
        f"{out.applications} applications, {out.event_values} in {out.events} callback events; "
        f"key check {'re-sealed' if out.check else 'already current'}",
        highlight=False,
        soft_wrap=True,
    )
    if not out.changed:
        console.print("nothing to do: every stored secret is sealed with the first key")


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for secret_keys (it is not stored anywhere)."""
    from openband.sealing import generate_key

    print(generate_key())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
