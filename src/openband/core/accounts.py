"""Accounts and their credentials.

An account has Dashboard/v2 credentials (username:password) and v1 Catapult ones
(apiToken:apiSecret, plus a userId that v1 paths carry). Secrets are stored as scrypt hashes and
compared in constant time. scrypt costs tens of milliseconds by design, so verified credentials are
cached briefly; the cache key includes the stored hash, so a password change (a new salted hash)
invalidates it at once in this process and within `credential_cache_seconds` in others.

A check that the cache cannot answer runs on a bounded thread pool (core/verify_pool.py), never
on the event loop; an unknown username is checked against a dummy hash, so it costs what a known
one costs; and failures are counted per client address and per username (core/failure_limiter):
past a threshold they are refused with a 429 before any scrypt runs. docs/security.md, "Signing in".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.core.cache import TtlCache
from openband.core.failure_limiter import FailureLimiter, Rule, SignInThrottled
from openband.core.verify_pool import VerifyPool
from openband.errors import Conflict, InvalidInput, NotFound
from openband.store import accounts as repo

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.store.db import Database

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

KIND_BASIC = "basic"
KIND_V1 = "v1"

# The failure limiter's kinds of key.
BY_SOURCE = "source"
BY_USERNAME = "username"


def _encode(salt: bytes, digest: bytes) -> str:
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return _encode(salt, digest)


# What an unknown username is checked against: the parameters of a real hash, so the check costs
# the same, and an all-zero digest, which no secret is known to produce.
DUMMY_HASH = _encode(b"openband-unknown", bytes(32))


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt_b64),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class Principal:
    """Who made a request: the account and the credential used."""

    account_id: str
    kind: str
    username: str


class CredentialCache:
    """Short-lived memory of (credential row, secret) pairs already verified.

    Three layers, cheapest first:
    - verified Authorization headers (`cached_header`): a dict lookup per request, valid while
      the credential row as last read still has the hash that verified it;
    - credential rows, re-read every `min(ttl, 2 s)` so a change made by another process (the
      CLI) is seen within that time; concurrent misses of one row share a single read, so an
      expiring row under load costs one query, not one per in-flight request;
    - verified (row hash, secret digest) pairs, so scrypt is paid once per ttl.

    Anything else is checked on `pool`'s threads (the first two layers never leave the loop's
    thread), an unknown principal against DUMMY_HASH.
    """

    ROW_SECONDS = 2.0

    def __init__(self, ttl_seconds: float, pool: VerifyPool | None = None) -> None:
        self.ttl = ttl_seconds
        self.pool = pool or VerifyPool()
        self._verified: dict[tuple[str, str, str, bytes], float] = {}
        # Row lookups are cached for a fraction of the TTL: password changes made by another
        # process (the CLI) are seen within that time.
        self._rows = TtlCache(min(ttl_seconds, self.ROW_SECONDS), max_size=10_000)
        # header -> (expiry, kind, principal, secret hash that verified it, account id)
        self._headers: dict[str, tuple[float, str, str, str, str]] = {}

    def clear(self) -> None:
        self._verified.clear()
        self._rows.clear()
        self._headers.clear()

    def cached_header(self, header: str, kinds: tuple[str, ...]) -> Principal | None:
        """The principal of an Authorization header verified recently, if its credential row
        (as last read, still fresh) is unchanged; None means "verify it the full way"."""
        hit = self._headers.get(header)
        if hit is None:
            return None
        expiry, kind, principal, secret_hash, account_id = hit
        now = time.monotonic()
        if expiry <= now or kind not in kinds:
            return None
        fresh, row = self._rows.get((kind, principal))
        if not fresh or row is None or row.secret_hash != secret_hash:
            return None
        return Principal(account_id, kind, principal)

    def remember_header(self, header: str, who: Principal) -> None:
        """Remember that `header` authenticated as `who` (after `authenticate` said so)."""
        fresh, row = self._rows.get((who.kind, who.username))
        if not fresh or row is None:
            return
        if len(self._headers) > 10_000:
            self._headers.clear()
        self._headers[header] = (
            time.monotonic() + self.ttl,
            who.kind,
            who.username,
            row.secret_hash,
            who.account_id,
        )

    async def authenticate(
        self, db: Database, kinds: tuple[str, ...], principal: str, secret: str
    ) -> Principal | None:
        fp = hashlib.sha256(secret.encode()).digest()
        rows: list[repo.CredentialRow] = []
        for kind in kinds:
            row = await self._row(db, kind, principal)
            if row is None:
                continue
            found = self._remembered([row], fp)
            if found is not None:
                return found  # verified recently: no check, no thread hop
            rows.append(row)
        if not rows:
            # The same work and the same path as a known principal's wrong secret: one check,
            # on the pool, which fails; shared with identical checks in flight, as a known
            # principal's are (its key names the principal as a real hash would).
            key = (f"{DUMMY_HASH}:{principal}", fp)
            await self.pool.run(key, verify_secret, secret, DUMMY_HASH)
            return None
        for row in rows:
            if await self.pool.run((row.secret_hash, fp), verify_secret, secret, row.secret_hash):
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[(row.kind, principal, row.secret_hash, fp)] = (
                    time.monotonic() + self.ttl
                )
                return Principal(row.account_id, row.kind, principal)
        return None

    def verified(self, kinds: tuple[str, ...], principal: str, secret: str) -> Principal | None:
        """The principal if these credentials were verified recently, from memory alone (no
        read, no scrypt); None when that is not known."""
        rows = []
        for kind in kinds:
            fresh, row = self._rows.get((kind, principal))
            if fresh and row is not None:
                rows.append(row)
        return self._remembered(rows, hashlib.sha256(secret.encode()).digest())

    def _remembered(self, rows: list[repo.CredentialRow], fp: bytes) -> Principal | None:
        now = time.monotonic()
        for row in rows:
            expiry = self._verified.get((row.kind, row.principal, row.secret_hash, fp))
            if expiry is not None and expiry > now:
                return Principal(row.account_id, row.kind, row.principal)
        return None

    def forget(self, principal: str) -> None:
        """Drop what was verified for `principal` (headers and pairs): it must be checked the
        full way again."""
        self._verified = {k: v for k, v in self._verified.items() if k[1] != principal}
        self._headers = {h: v for h, v in self._headers.items() if v[2] != principal}

    async def _row(self, db: Database, kind: str, principal: str) -> repo.CredentialRow | None:
        async def load() -> repo.CredentialRow | None:
            async with db.connect() as conn:
                return await repo.get_credential(conn, kind, principal)

        return await self._rows.get_or_load((kind, principal), load)


def failure_limiter(s: Settings) -> FailureLimiter:
    window = s.auth_failure_window_seconds
    return FailureLimiter(
        {
            BY_SOURCE: Rule(s.auth_failures_per_source, window),
            BY_USERNAME: Rule(s.auth_failures_per_username, window),
        },
        backoff=s.auth_backoff_seconds,
        backoff_max=s.auth_backoff_max_seconds,
        max_entries=s.auth_limiter_entries,
    )


class Accounts:
    """Authentication for every API family: HTTP Basic credentials checked against the stored
    scrypt hashes, through the CredentialCache, behind the failure limiter."""

    def __init__(
        self, db: Database, credentials: CredentialCache, limiter: FailureLimiter | None = None
    ) -> None:
        self.db = db
        self.credentials = credentials
        self.limiter = limiter

    async def authenticate(
        self, kinds: tuple[str, ...], principal: str, secret: str, source: str = ""
    ) -> Principal | None:
        """The principal these credentials name, or None; `source` is the client's address.

        Raises SignInThrottled (429) without checking the secret while the source or the
        username is blocked, and VerifyPoolBusy (429) when too many checks are waiting."""
        limiter = self.limiter
        if limiter is None:
            return await self.credentials.authenticate(self.db, kinds, principal, secret)
        by_source, by_user = (BY_SOURCE, source), (BY_USERNAME, principal)
        wait = max(limiter.blocked_for(by_source), limiter.blocked_for(by_user))
        if wait > 0:
            # Credentials verified moments ago cost nothing to accept (a neighbour behind the
            # same address must not lock a working client out); a blocked username has none.
            known = self.credentials.verified(kinds, principal, secret)
            if known is not None:
                return known
            # A guess refused for its source still counts against the username, so a blocked
            # source cannot go on testing guesses against the verified memory above.
            self._failed_user(by_user)
            raise SignInThrottled(wait)
        found = await self.credentials.authenticate(self.db, kinds, principal, secret)
        if found is None:
            limiter.fail(by_source)
            self._failed_user(by_user)
        else:
            limiter.reset(by_user)
        return found

    def _failed_user(self, key: tuple[str, str]) -> None:
        assert self.limiter is not None
        if self.limiter.fail(key):
            # Blocked from now on: what was verified for it must not answer (the hot path's
            # header cache included) until it signs in again after the block.
            self.credentials.forget(key[1])

    def close(self) -> None:
        self.credentials.pool.close()

    def cached_header(self, header: str, kinds: tuple[str, ...]) -> Principal | None:
        return self.credentials.cached_header(header, kinds)

    def remember_header(self, header: str, who: Principal) -> None:
        self.credentials.remember_header(header, who)


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    username: str
    password: str
    v1_user_id: str | None = None
    api_token: str | None = None
    api_secret: str | None = None
    name: str = ""
    limits: dict | None = None


async def create_account(conn: AsyncConnection, spec: NewAccount) -> None:
    if not _ACCOUNT_ID.match(spec.account_id):
        raise InvalidInput("account id must be 1-32 letters, digits, '-' or '_'", field="accountId")
    if not spec.username or not spec.password:
        raise InvalidInput("username and password are required", field="username")
    if await repo.get_account(conn, spec.account_id) is not None:
        raise Conflict(f"account {spec.account_id} already exists")
    if await repo.get_credential(conn, KIND_BASIC, spec.username) is not None:
        raise Conflict(f"username {spec.username} is taken")
    if spec.api_token and await repo.get_credential(conn, KIND_V1, spec.api_token) is not None:
        raise Conflict("that apiToken is taken")
    await repo.insert_account(conn, spec.account_id, spec.name, spec.v1_user_id, spec.limits or {})
    await repo.insert_credential(
        conn, spec.account_id, KIND_BASIC, spec.username, hash_secret(spec.password)
    )
    if spec.api_token and spec.api_secret:
        await repo.insert_credential(
            conn, spec.account_id, KIND_V1, spec.api_token, hash_secret(spec.api_secret)
        )


async def set_password(conn: AsyncConnection, kind: str, principal: str, secret: str) -> None:
    if await repo.get_credential(conn, kind, principal) is None:
        raise NotFound(f"no {kind} credential {principal}")
    await repo.update_secret(conn, kind, principal, hash_secret(secret))


def generate_dev_account() -> NewAccount:
    return NewAccount(
        account_id="9900000",
        username="dev",
        password=secrets.token_urlsafe(12),
        v1_user_id="u-dev",
        api_token="t-" + secrets.token_hex(8),
        api_secret=secrets.token_urlsafe(12),
        name="Development account",
    )


async def get_account(conn: AsyncConnection, account_id: str) -> repo.AccountRow:
    row = await repo.get_account(conn, account_id)
    if row is None:
        raise NotFound(f"Account {account_id} not found", code=1002)
    return row
