"""Bandwidth Messaging API v2: routes (routes.py), the create request, `message` object and
callbacks (wire.py), and the message list's parameters and items (listing.py)."""

from openband.api.messaging_v2.routes import fast_routes, router
from openband.api.messaging_v2.wire import CALLBACKS

# The SDK with ignore_operation_servers=True sends the host's path as is: both are served.
PREFIXES = ("", "/api/v2")

__all__ = ["CALLBACKS", "PREFIXES", "fast_routes", "router"]
