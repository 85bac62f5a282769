"""Small stand-ins for unit tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator


class NullDb:
    """A Database whose connections are None: for code whose store calls a test replaces."""

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[None]:
        yield None
