"""Applications: create, read, PUT (replace), PATCH (merge), delete, and the peers using one.

The callback settings are validated here (Bandwidth's codes and texts) and stored through
ApplicationConfig, which alone knows their stored keys and shape; their secrets (creds'
passwords, the signing secret) are stored sealed with the Sealer each write is given.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import ids
from openband.core.provisioning.config import (
    CALLBACK_TYPES,
    CONFIG_FIELDS,
    MESSAGING,
    SIGNING_SECRET_ELEMENT,
    SIGNING_SECRET_KEY,
    URL_FIELDS,
    VOICE,
    ApplicationConfig,
    Credentials,
    open_secrets,
)
from openband.core.provisioning.validators import (
    E_APP_IN_USE,
    E_APP_NOT_FOUND,
    E_INVALID_VALUE,
    choice,
    http_url,
    invalid,
    max_len,
    missing,
    required_text,
    text,
)
from openband.errors import Conflict, InvalidInput, NotFound
from openband.sealing import Sealer
from openband.store import provisioning as repo
from openband.store import secrets as secrets_repo
from openband.store.provisioning import ApplicationRow, AssociatedPeer

# An HMAC key a receiver can paste into any language: printable ASCII, no spaces, and long
# enough not to be guessed (the generated ones are 43 characters).
_SIGNING_SECRET = re.compile(r"[\x21-\x7e]{16,255}")
REMOVE = "remove"

_METHODS = ("GET", "POST")
# Older documents and examples spell the service types without the version suffix.
_SERVICE_TYPES = {
    "messaging-v2": MESSAGING,
    "messaging": MESSAGING,
    "voice-v2": VOICE,
    "voice": VOICE,
}


@dataclass
class ApplicationInput:
    """An application as given. `config` holds only the keys present in the request (stored
    keys, see CONFIG_KEYS): URL and method fields as strings, creds as Credentials or
    {"user_id", "password"}, requested_callback_types as a list of strings, callback_timeout as a
    string."""

    service_type: str | None = None
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


def _service_type(value: str | None) -> str | None:
    v = text(value)
    if v is None:
        return None
    st = _SERVICE_TYPES.get(v.lower())
    if st is None:
        raise invalid("ServiceType", v, "Valid values are: Messaging-V2, Voice-V2.")
    return st


def _creds(value: Any, label: str, previous: Any) -> Credentials | None:
    given = Credentials.from_json(value)
    if given is None:
        return None
    user = max_len(text(given.user), f"{label}.UserId", 255)
    password = max_len(text(given.password), f"{label}.Password", 255)
    if user is None and password is None:
        return None
    old = Credentials.from_json(previous)
    if password is None and old is not None and old.user == user:
        # Passwords are never echoed, so a GET-modify-PUT round trip omits them: keep the old one.
        password = old.password or None
    return Credentials(user or "", password or "")


def _callback_timeout(value: Any, label: str) -> float | None:
    v = text(value if isinstance(value, str) else None if value is None else str(value))
    if v is None:
        return None
    try:
        number = float(v)
    except ValueError as exc:
        raise invalid(label, v, "A number of seconds between 1 and 25.") from exc
    if not 1 <= number <= 25:
        raise invalid(label, v, "A number of seconds between 1 and 25.")
    return number


def generate_signing_secret() -> str:
    return secrets.token_urlsafe(32)


def signing_secret(value: str) -> str:
    """A signing secret as given, checked; the error never shows it."""
    v = value.strip()
    max_len(v, SIGNING_SECRET_ELEMENT, 255)
    if not _SIGNING_SECRET.fullmatch(v):
        raise InvalidInput(
            f"{SIGNING_SECRET_ELEMENT} is not valid: 16 to 255 printable ASCII characters "
            "without spaces.",
            code=E_INVALID_VALUE,
            field=SIGNING_SECRET_ELEMENT,
        )
    return v


def _apply_signing_secret(values: dict[str, Any], given: Any, previous: Mapping[str, Any]) -> None:
    """Write-only, like the passwords: absent (or blank) keeps the stored one, since a GET-modify-
    PUT round trip never carries it; 'remove' deletes it; anything else replaces it."""
    v = text(given) if isinstance(given, str) else None
    if v is None:
        old = previous.get(SIGNING_SECRET_KEY)
        if old:
            values[SIGNING_SECRET_KEY] = old
    elif v.lower() == REMOVE:
        values.pop(SIGNING_SECRET_KEY, None)
    else:
        values[SIGNING_SECRET_KEY] = signing_secret(v)


def _callback_types(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    out: list[str] = []
    for item in value:
        t = choice(item, "CallbackType", CALLBACK_TYPES)
        if t is not None and t not in out:
            out.append(t)
    return tuple(out)


def _validated(given: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The keys present in `given`, validated and typed; None means "absent" and is dropped."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in CONFIG_FIELDS:
            raise ValueError(f"unknown application config key {key!r}")
        kind, element = CONFIG_FIELDS[key]
        v: Any
        if kind == "url":
            v = http_url(value, element)
        elif kind == "method":
            v = choice(value, element, _METHODS)
        elif kind == "creds":
            v = _creds(value, element, previous.get(key))
        elif kind == "types":
            v = _callback_types(value)
        elif kind == "secret":
            v = signing_secret(value) if text(value) else None
        else:
            v = _callback_timeout(value, element)
        if v is not None:
            out[key] = v
    return out


def _checked(service_type: str, name: str, values: Mapping[str, Any]) -> ApplicationConfig:
    max_len(name, "AppName", 255)
    config = ApplicationConfig.from_json(service_type, values)
    if service_type == VOICE and config.voice.call_initiated_callback_url is None:
        raise missing("CallInitiatedCallbackUrl")
    return config


async def load_application(
    conn: AsyncConnection, account_id: str, app_id: str, *, lock: bool = False
) -> ApplicationRow:
    row = await repo.get_application(conn, account_id, str(app_id), lock=lock)
    if row is None:
        raise NotFound(f"Application with id '{app_id}' not found", code=E_APP_NOT_FOUND)
    return row


async def get_application(conn: AsyncConnection, account_id: str, app_id: str) -> ApplicationRow:
    return await load_application(conn, account_id, app_id)


async def list_applications(conn: AsyncConnection, account_id: str) -> list[ApplicationRow]:
    return await repo.list_applications(conn, account_id)


async def create_application(
    conn: AsyncConnection, account_id: str, data: ApplicationInput, *, sealer: Sealer
) -> ApplicationRow:
    service_type = _service_type(data.service_type)
    if service_type is None:
        raise missing("ServiceType")
    name = required_text(data.name, "AppName")
    given = dict(data.config)
    secret = given.pop(SIGNING_SECRET_KEY, None)
    values = _validated(given, {})
    _apply_signing_secret(values, secret, {})
    config = _checked(service_type, name, values)
    app_id = ids.application_id()
    await repo.insert_application(
        conn, app_id, account_id, service_type, name, config.stored(sealer)
    )
    return await get_application(conn, account_id, app_id)


async def _save_app(
    conn: AsyncConnection,
    current: ApplicationRow,
    service_type: str,
    name: str,
    values: Mapping[str, Any],
    sealer: Sealer,
) -> ApplicationRow:
    config = _checked(service_type, name, values)
    if service_type != current.service_type and await repo.peers_using_application(
        conn, current.account_id, current.id
    ):
        raise InvalidInput(
            "ServiceType cannot change while the application is assigned to a location",
            code=E_APP_IN_USE,
            field="ServiceType",
        )
    await repo.update_application(conn, current.id, service_type, name, config.stored(sealer))
    return await get_application(conn, current.account_id, current.id)


async def replace_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput, *, sealer: Sealer
) -> ApplicationRow:
    """PUT: the new document replaces every callback field (ServiceType may be omitted) but the
    write-only signing secret, which stays unless given."""
    current = await load_application(conn, account_id, app_id, lock=True)
    service_type = _service_type(data.service_type) or current.service_type
    name = required_text(data.name, "AppName")
    previous = open_secrets(current.config, sealer)
    given = dict(data.config)
    secret = given.pop(SIGNING_SECRET_KEY, None)
    values = _validated(given, previous)
    _apply_signing_secret(values, secret, previous)
    return await _save_app(conn, current, service_type, name, values, sealer)


async def patch_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput, *, sealer: Sealer
) -> ApplicationRow:
    """PATCH: only the given fields change; a URL field (or the signing secret) set to 'remove'
    is deleted."""
    current = await load_application(conn, account_id, app_id, lock=True)
    service_type = _service_type(data.service_type) or current.service_type
    name = text(data.name) or current.name
    previous = open_secrets(current.config, sealer)
    given = dict(data.config)
    secret = given.pop(SIGNING_SECRET_KEY, None)
    removed = {
        k
        for k in URL_FIELDS
        if isinstance(given.get(k), str) and given[k].strip().lower() == REMOVE
    }
    for k in removed:
        given.pop(k)
    values: dict[str, Any] = {k: v for k, v in previous.items() if k not in removed}
    for key, value in _validated(given, previous).items():
        old = Credentials.from_json(values.get(key)) if isinstance(value, Credentials) else None
        if old is not None:
            # Creds change part by part: a PATCH with only a Password keeps the UserId.
            value = Credentials(value.user or old.user, value.password or old.password)
        values[key] = value
    _apply_signing_secret(values, secret, previous)
    return await _save_app(conn, current, service_type, name, values, sealer)


async def set_signing_secret(
    conn: AsyncConnection, app_id: str, secret: str | None, *, sealer: Sealer
) -> ApplicationRow:
    """The operator's way (`openband applications set-signing-secret`): set (None: remove) an
    application's signing secret, whichever account owns it."""
    account_id = await secrets_repo.application_account(conn, app_id)
    if account_id is None:
        raise NotFound(f"Application with id '{app_id}' not found", code=E_APP_NOT_FOUND)
    current = await load_application(conn, account_id, app_id, lock=True)
    values = open_secrets(current.config, sealer)
    if secret is None:
        values.pop(SIGNING_SECRET_KEY, None)
    else:
        values[SIGNING_SECRET_KEY] = signing_secret(secret)
    return await _save_app(conn, current, current.service_type, current.name, values, sealer)


async def delete_application(conn: AsyncConnection, account_id: str, app_id: str) -> None:
    app = await load_application(conn, account_id, app_id, lock=True)
    if await repo.peers_using_application(conn, account_id, app.id):
        raise Conflict(
            f"Application '{app.id}' is assigned to one or more locations and cannot be removed",
            code=E_APP_IN_USE,
        )
    await repo.delete_application(conn, app.id)


async def associated_peers(
    conn: AsyncConnection, account_id: str, app_id: str
) -> list[AssociatedPeer]:
    app = await get_application(conn, account_id, app_id)
    return await repo.peers_using_application(conn, account_id, app.id)
