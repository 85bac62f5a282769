"""What every request handler reaches: the platform's core services (core/platform.Platform)."""

from __future__ import annotations

from starlette.requests import Request

from openband.core.platform import Platform


def ctx(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    """The public base URL for Location headers: configured, or the one the client used."""
    configured = ctx(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")
