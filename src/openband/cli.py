"""The `openband` command: serve, accounts, inventory.

Every command that touches data takes --database (or OPENBAND_DATABASE_URL) like `serve`, and
works while a server runs on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from openband.config import Settings, load_settings

app = typer.Typer(no_args_is_help=True, help="OpenBand: a self-hosted, Bandwidth-compatible CPaaS.")
accounts_app = typer.Typer(no_args_is_help=True, help="Manage accounts and their credentials.")
app.add_typer(accounts_app, name="accounts")
console = Console()

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
) -> None:
    """Run the APIs and the background workers in one process."""
    import uvicorn

    from openband import logs
    from openband.server import create_app

    settings = _settings(
        database, config, host=host, port=port, log_format=log_format, production=production
    )
    logs.configure(settings.log_format, settings.log_level)
    if settings.dev_account:
        _ensure_dev_account(settings)
    console.print(
        f"OpenBand listening on http://{settings.host}:{settings.port} "
        f"(database {settings.database_url})",
        highlight=False,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def _ensure_dev_account(settings: Settings) -> None:
    from openband.core import accounts as core
    from openband.core.errors import Conflict
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
    database: DatabaseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create an account with its Dashboard/v2 and (optionally) v1 credentials."""
    from openband.core import accounts as core
    from openband.core.errors import CoreError

    if bool(api_token) != bool(api_secret):
        raise typer.BadParameter("--api-token and --api-secret go together")
    spec = core.NewAccount(
        account_id=account_id,
        username=username,
        password=password,
        v1_user_id=user_id,
        api_token=api_token,
        api_secret=api_secret,
        name=name,
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
    from openband.core.errors import CoreError

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
