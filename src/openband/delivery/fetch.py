"""Synchronous fetches of customer URLs whose answer we act on: BXML (answerUrl, gatherUrl, ...)
and MMS media.

Separate from the callback client (http.py) on purpose: its own connection pool, so a BXML fetch
that must be answered within the call's callback timeout never queues behind a backlog of
callbacks. Every hop of a redirect chain passes the SSRF policy twice, like every other outbound
request: `UrlPolicy.check_url` before the request and `PolicyResolver` at connect time.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urljoin

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from openband.delivery.http import (
    PolicySession,
    basic_auth,
    denied_by_policy,
    describe,
)
from openband.delivery.ssrf import UrlDenied, UrlPolicy

if TYPE_CHECKING:
    from openband.config import Settings

REDIRECTS = frozenset({301, 302, 303, 307, 308})

METHODS = frozenset({"GET", "POST"})
_CHUNK = 64 * 1024
# Credentials stay on the origin they were given for (curl drops these too); Host names it.
_ORIGIN_BOUND = frozenset({"authorization", "proxy-authorization", "cookie", "host"})
# Describe the body, which no longer exists once the request method turns into GET.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int  # the final answer's status (2xx)
    url: str  # the final URL, after redirects
    content_type: str  # the Content-Type header, "" when absent
    body: bytes  # decoded when the answer had a gzip/deflate Content-Encoding
    headers: Mapping[str, str]  # the final answer's (case-insensitive)
    elapsed_ms: float
    redirects: int


class FetchError(Exception):
    """The fetch did not produce a 2xx answer. `url` is the hop that failed."""

    reason: ClassVar[str] = "unreachable"

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail} ({url})")
        self.url = url
        self.detail = detail


class FetchDenied(FetchError):
    reason = "denied"


class FetchUnreachable(FetchError):
    reason = "unreachable"


class FetchTimeout(FetchError):
    reason = "timeout"


class FetchTooLarge(FetchError):
    reason = "too-large"


class FetchRedirects(FetchError):
    reason = "redirects"


class FetchStatus(FetchError):
    reason = "status"

    def __init__(self, url: str, status: int, body: bytes) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status
        self.body = body  # capped at the fetch's max_bytes


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port)


class _Inflater:
    """Decodes a gzip/deflate body without ever producing more than asked for.

    Why decode at all: auto_decompress is off (aiohttp would inflate a chunk in one go, so a
    small gzip bomb could allocate far beyond max_bytes before the cap is checked), and we ask
    for `Accept-Encoding: identity`. A server may still compress; handing the caller compressed
    XML or media would be wrong, so we inflate here with zlib's max_length, which bounds the
    output of every step: the decoded size is capped exactly like the wire size.
    """

    def __init__(self, encoding: str) -> None:
        # "deflate" is the zlib format (RFC 9110); raw deflate from broken servers fails loudly.
        wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)

    def feed(self, chunk: bytes, room: int) -> bytes:
        """At most `room` bytes; more input than that yields exactly `room` (the caller's cue)."""
        if self._z.eof:
            return b""  # trailing garbage after the stream, as aiohttp ignores it
        return self._z.decompress(chunk, max(room, 1))

    def finish(self) -> bool:
        """True when the compressed stream was complete."""
        return self._z.eof


def _inflater(headers: Mapping[str, str]) -> _Inflater | None:
    enc = headers.get("Content-Encoding", "").strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip", "deflate"):
        return _Inflater(enc)
    raise ValueError(f"unsupported content-encoding {enc!r}")


class Fetcher(PolicySession):
    """Synchronous fetches on a pool of their own; create once per process (wiring) and close
    at shutdown. Decompression is fetch's own (_Inflater), capped like the body."""

    @classmethod
    def from_settings(cls, settings: Settings, **kw: object) -> Fetcher:
        return cls(UrlPolicy.from_settings(settings), **kw)  # type: ignore[arg-type]

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 15.0,
        max_bytes: int = 64 * 1024,
        max_redirects: int = 5,
    ) -> FetchResult:
        """Fetch `url` and return its 2xx answer with the body. `timeout` bounds the whole fetch,
        every redirect hop and the body read included. Raises a FetchError subclass on failure,
        ValueError on bad arguments."""
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"method must be GET or POST, not {method!r}")
        if body is not None and method != "POST":
            raise ValueError("a body can only be sent with POST")
        if max_bytes < 0 or max_redirects < 0:
            raise ValueError("max_bytes and max_redirects must not be negative")
        start = time.perf_counter()
        current = url
        try:
            async with asyncio.timeout(timeout):
                first = self._checked(url)
                origin = _origin(first)
                target = first
                redirects = 0
                while True:
                    current = str(target)
                    same_origin = _origin(target) == origin
                    hop_headers = self._headers(
                        headers, auth if same_origin else None, body, content_type, same_origin
                    )
                    got = await self._hop(target, method, body, hop_headers, max_bytes)
                    if isinstance(got, FetchResult):
                        elapsed = (time.perf_counter() - start) * 1000
                        return replace(got, elapsed_ms=elapsed, redirects=redirects)
                    status, location = got
                    if redirects >= max_redirects:
                        raise FetchRedirects(current, f"more than {max_redirects} redirects")
                    redirects += 1
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, body, content_type = "GET", None, None  # as browsers and curl do
                    target = self._checked(urljoin(current, location))
        except TimeoutError:
            raise FetchTimeout(current, f"no answer within {timeout:g} s") from None

    def _checked(self, url: str) -> URL:
        """The URL aiohttp will use, after the policy's check. Both the given string and yarl's
        serialisation are checked, so a parser disagreement cannot smuggle an IP literal past
        the policy (aiohttp connects to literals without asking the resolver)."""
        try:
            self.policy.check_url(url)
            parsed = URL(url)
            self.policy.check_url(str(parsed))
        except UrlDenied as exc:
            raise FetchDenied(url, exc.reason) from None
        except ValueError as exc:
            raise FetchDenied(url, f"invalid URL: {exc}") from None
        return parsed

    def _headers(
        self,
        extra: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        same_origin: bool,
    ) -> dict[str, str]:
        # identity: the size cap then counts the body's real bytes (see _Inflater).
        out = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        for name, value in (extra or {}).items():
            low = name.lower()
            if low in _ORIGIN_BOUND and not same_origin:
                continue
            if low in _BODY_HEADERS and body is None:
                continue
            out[name] = value
        if body is not None and content_type is not None:
            out["Content-Type"] = content_type
        if auth is not None:
            out["Authorization"] = basic_auth(*auth)
        return out

    async def _hop(
        self,
        target: URL,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        max_bytes: int,
    ) -> FetchResult | tuple[int, str]:
        """One request: the 2xx answer, or (status, Location) of a redirect to follow."""
        url = str(target)
        try:
            async with self.session.request(
                method, target, data=body, headers=headers, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.status in REDIRECTS and location is not None:
                    return resp.status, location  # its body is not read: release closes if needed
                ok = 200 <= resp.status < 300
                data, hdrs = await _read_body(resp, url, max_bytes, strict=ok)
                if not ok:
                    raise FetchStatus(url, resp.status, data)
                ctype = hdrs.get("Content-Type", "")
                return FetchResult(resp.status, url, ctype, data, hdrs, 0.0, 0)
        except (FetchError, asyncio.CancelledError):
            raise
        except TimeoutError:
            raise FetchTimeout(url, "timeout") from None
        except Exception as exc:  # every failure becomes a FetchError, never a raw aiohttp one
            denied = denied_by_policy(exc)
            if denied is not None:
                raise FetchDenied(url, denied.reason) from None
            raise FetchUnreachable(url, describe(exc)) from None


async def _read_body(
    resp: aiohttp.ClientResponse, url: str, max_bytes: int, *, strict: bool
) -> tuple[bytes, Mapping[str, str]]:
    """At most max_bytes of the body, decoded. `strict`: more is FetchTooLarge, else the body is
    truncated (an error answer's body is only informative). The connection is closed instead of
    reading past the cap."""
    declared = resp.content_length
    if strict and declared is not None and declared > max_bytes:
        resp.close()
        raise FetchTooLarge(url, f"{declared} bytes declared > {max_bytes}")
    try:
        inflater = _inflater(resp.headers)
    except ValueError as exc:
        resp.close()
        raise FetchUnreachable(url, str(exc)) from None
    out = bytearray()
    wire = 0
    over = False
    async for chunk in resp.content.iter_chunked(_CHUNK):
        wire += len(chunk)
        room = max_bytes - len(out)
        try:
            out += chunk if inflater is None else inflater.feed(chunk, room + 1)
        except zlib.error as exc:
            resp.close()
            enc = resp.headers["Content-Encoding"]
            raise FetchUnreachable(url, f"bad {enc} body: {exc}") from None
        if len(out) > max_bytes or wire > max_bytes:
            over = True
            break
    if over:
        resp.close()  # don't read the rest just to reuse the connection
        if strict:
            raise FetchTooLarge(url, f"more than {max_bytes} bytes")
        del out[max_bytes:]
    if inflater is None:
        return bytes(out), resp.headers
    if not over and not inflater.finish():
        raise FetchUnreachable(url, "truncated compressed body")
    # The headers describe the body as returned: decoded, of its own length.
    hdrs = CIMultiDict(resp.headers)
    hdrs.popall("Content-Encoding", None)
    hdrs.popall("Content-Length", None)
    return bytes(out), CIMultiDictProxy(hdrs)
