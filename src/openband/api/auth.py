"""HTTP Basic authentication shared by every API family (each maps failures to its own shape)."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from openband.api.context import ctx
from openband.core.accounts import Principal
from openband.errors import Forbidden, Unauthorized


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
    if not sep:
        raise Unauthorized("Authentication Failed")
    return user, secret


async def authenticate(request: Request, kinds: tuple[str, ...]) -> Principal:
    user, secret = basic_credentials(request)
    principal = await ctx(request).accounts.authenticate(kinds, user, secret)
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
