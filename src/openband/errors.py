"""Errors the core raises. Each API family maps them to its own wire shape and status.

`code` is Bandwidth's numeric error code where the family has one (Dashboard 1xxx/4xxx/5xxx,
messaging 4xxx); `field` names the offending request field when there is one.
"""

from __future__ import annotations


class CoreError(Exception):
    status = 400
    kind = "error"

    def __init__(self, description: str, *, code: int | None = None, field: str | None = None):
        super().__init__(description)
        self.description = description
        self.code = code
        self.field = field


class InvalidInput(CoreError):
    status = 400
    kind = "validation"


class Unauthorized(CoreError):
    status = 401
    kind = "unauthorized"


class Forbidden(CoreError):
    status = 403
    kind = "forbidden"


class NotFound(CoreError):
    status = 404
    kind = "not-found"


class Conflict(CoreError):
    status = 409
    kind = "conflict"


class TooMany(CoreError):
    status = 429
    kind = "too-many-requests"

    def __init__(
        self,
        description: str,
        *,
        code: int | None = None,
        field: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(description, code=code, field=field)
        self.retry_after = retry_after  # whole seconds; each family sends it as Retry-After


def retry_after_header(exc: CoreError) -> dict[str, str] | None:
    """The Retry-After header a refusal carries, if it says when to come back."""
    seconds = getattr(exc, "retry_after", None)
    return {"Retry-After": str(seconds)} if seconds is not None else None


class TooLarge(CoreError):
    status = 413
    kind = "request-entity-too-large"
