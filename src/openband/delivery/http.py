"""The callback client: a shared aiohttp session behind the SSRF policy, for the delivery
worker's POSTs (fetch.py is the other client: synchronous fetches that return a body).

aiohttp rather than httpx: on this class of machine it posts 10x more small webhooks per second.
One ClientSession per process keeps connections alive across deliveries; the connector's
resolver enforces the SSRF policy at connect time (see ssrf.py).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from openband.delivery.ssrf import PolicyResolver, UrlDenied, UrlPolicy

if TYPE_CHECKING:
    from openband.config import Settings

USER_AGENT = "BandwidthAPI/v2"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# A receiver's answer is only drained for keep-alive; beyond this the connection is dropped.
MAX_RESPONSE_DRAIN = 64 * 1024
_CACHE_SIZE = 4096  # per-URL / per-credentials entries kept before starting over


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status: int | None  # None: no HTTP answer (refused, reset, timeout, denied)
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def basic_auth(user: str, password: str) -> str:
    # Built by hand: aiohttp.BasicAuth refuses a ':' in the user id, Bandwidth's creds allow it.
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def denied_by_policy(exc: BaseException) -> UrlDenied | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, UrlDenied):
            return seen
        inner = getattr(seen, "os_error", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__
    return None


def describe(exc: BaseException) -> str:
    denied = denied_by_policy(exc)
    if denied is not None:
        return f"denied: {denied.reason}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connect failed: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return f"{type(exc).__name__}: {exc}"[:500]


class PolicySession:
    """An aiohttp session (and its connection pool) whose every connection passes the SSRF
    policy, made when first used; create one per client and process, close it at shutdown."""

    LIMIT = 100  # connections in all
    LIMIT_PER_HOST = 0  # connections to one host (0: no limit of its own)

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        limit: int | None = None,
        limit_per_host: int | None = None,
        resolver: AbstractResolver | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.policy = policy
        self.limit = self.LIMIT if limit is None else limit
        self.limit_per_host = self.LIMIT_PER_HOST if limit_per_host is None else limit_per_host
        self.user_agent = user_agent
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                limit_per_host=self.limit_per_host,
                resolver=PolicyResolver(self.policy, self._inner_resolver),
                ttl_dns_cache=10,  # caches only answers the policy already let through
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent},
                trust_env=False,  # a proxy would connect where the policy cannot see
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # bodies are drained or capped, never inflated blindly
                # Every request carries its own deadline; aiohttp's default 5 min must not
                # interfere.
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpClient(PolicySession):
    """The callback client: POSTs of JSON bodies (post_json), answers drained, never read."""

    LIMIT = 256
    LIMIT_PER_HOST = 32

    def __init__(self, policy: UrlPolicy, **kw: Any) -> None:
        super().__init__(policy, **kw)
        self._urls: dict[str, URL | str | UrlDenied] = {}
        self._headers: dict[tuple[str, str] | None, dict[str, str]] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **kw: object) -> HttpClient:
        return cls(
            UrlPolicy.from_settings(settings),
            limit=settings.callback_concurrency,
            limit_per_host=settings.callback_per_host,
            **kw,  # type: ignore[arg-type]
        )

    def _prepared(self, url: str) -> URL | str:
        """The parsed URL after the policy's pre-request check, both cached per URL string
        (callback URLs repeat; the policy never changes). Raises UrlDenied."""
        got = self._urls.get(url)
        if got is None:
            try:
                self.policy.check_url(url)
                got = URL(url)
            except UrlDenied as exc:
                got = exc
            except ValueError:
                got = url  # aiohttp reports it
            if len(self._urls) >= _CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = got
        if isinstance(got, UrlDenied):
            raise UrlDenied(got.reason)  # a fresh one: a re-raised instance grows its traceback
        return got

    def _base_headers(self, auth: tuple[str, str] | None) -> dict[str, str]:
        """Content-Type, User-Agent and Authorization, built once per credentials."""
        got = self._headers.get(auth)
        if got is None:
            got = {"Content-Type": JSON_CONTENT_TYPE, "User-Agent": self.user_agent}
            if auth is not None:
                got["Authorization"] = basic_auth(*auth)
            if len(self._headers) >= _CACHE_SIZE:
                self._headers.clear()
            self._headers[auth] = got
        return got

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        got = self._timeouts.get(seconds)
        if got is None:
            got = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return got

    async def post_json(
        self,
        url: str,
        body: bytes,
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> AttemptResult:
        """POST `body` as JSON; never raises for network errors. Redirects are not followed."""
        start = time.perf_counter()
        h = self._base_headers(auth)
        if headers:
            h = {**h, **headers}
        try:
            async with self.session.post(
                self._prepared(url),
                data=body,
                headers=h,
                allow_redirects=False,
                timeout=self._timeout(timeout),
            ) as resp:
                # Drained only for keep-alive; the answer's content does not matter.
                await resp.content.read(MAX_RESPONSE_DRAIN)
                if not resp.content.at_eof():
                    resp.close()  # don't read a huge answer just to reuse the connection
                status = resp.status
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is a result to record, not a crash
            return AttemptResult(None, (time.perf_counter() - start) * 1000, describe(exc))
        latency = (time.perf_counter() - start) * 1000
        return AttemptResult(status, latency, None if 200 <= status < 300 else f"HTTP {status}")
