"""Cache versions (cache_versions): a counter per kind of cached fact.

`bump` goes in the transaction of the change, so the new version and the change commit
together; `read` is what a process compares (core/cache.Generation). ROUTING covers what the
messaging hot path caches: which account owns a number, its location's messaging products and
application, an application's callback settings.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.store.schema import cache_versions

ROUTING = "routing"
_c = cache_versions.c


async def bump(conn: AsyncConnection, name: str = ROUTING) -> None:
    result = await conn.execute(
        update(cache_versions).where(_c.name == name).values(version=_c.version + 1)
    )
    if result.rowcount == 0:  # a database whose row was never made (created without migrations)
        ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(cache_versions)
        await conn.execute(
            ins.values(name=name, version=1).on_conflict_do_update(
                index_elements=["name"], set_={"version": _c.version + 1}
            )
        )


async def read(conn: AsyncConnection, name: str = ROUTING) -> int:
    got = (await conn.execute(select(_c.version).where(_c.name == name))).scalar()
    return int(got or 0)
