"""HTTP Basic authentication shared by every API family (each maps failures to its own shape)."""

from __future__ import annotations

import base64
import binascii
import re

from starlette.requests import Request

from openband.api.context import ctx
from openband.core.accounts import Principal
from openband.errors import Forbidden, Unauthorized

_CONTROL = re.compile("[\x00-\x1f\x7f]")


def basic_credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("Authentication Failed")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("Authentication Failed") from exc
    user, sep, secret = decoded.partition(":")
    # No username has a control character, and PostgreSQL refuses a NUL in a query (a 500).
    if not sep or _CONTROL.search(user):
        raise Unauthorized("Authentication Failed")
    return user, secret


def client_address(request: Request) -> str:
    """Who is signing in, for the failure limiter: the TCP peer, or behind N trusted proxies
    (settings.auth_trusted_proxies) the Nth X-Forwarded-For entry from the right, the one the
    outermost proxy appended. Entries further left are the client's own say and never trusted."""
    peer = request.scope.get("client")
    address = str(peer[0]) if peer else ""
    hops = ctx(request).settings.auth_trusted_proxies
    if hops:
        forwarded = [
            part.strip()
            for value in request.headers.getlist("x-forwarded-for")
            for part in value.split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    return address


async def authenticate(request: Request, kinds: tuple[str, ...]) -> Principal:
    """The caller's principal; Unauthorized (401) for wrong or missing credentials, TooMany
    (429 with retry_after) while the caller's address or username is blocked."""
    user, secret = basic_credentials(request)
    principal = await ctx(request).accounts.authenticate(
        kinds, user, secret, client_address(request)
    )
    if principal is None:
        raise Unauthorized("Authentication Failed")
    request.state.principal = principal
    return principal


async def authorize_account(request: Request, account_id: str, kinds: tuple[str, ...]) -> Principal:
    """Authenticate, then insist the path's account is the caller's own."""
    principal = await authenticate(request, kinds)
    if principal.account_id != account_id:
        raise Forbidden("Access Denied")
    return principal
