"""Bandwidth Voice API v2: routes (routes.py) and the wire shapes of requests, call states,
recordings and webhooks (wire.py)."""

from openband.api.voice_v2.routes import router
from openband.api.voice_v2.wire import webhook

# Like Messaging v2: the SDKs send /api/v2/…, some set-ups the bare path; both are served.
PREFIXES = ("/api/v2", "")

__all__ = ["PREFIXES", "router", "webhook"]
