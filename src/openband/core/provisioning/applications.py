"""Applications: create, read, PUT (replace), PATCH (merge), delete, and the peers using one.

The callback settings are validated here (Bandwidth's codes and texts) and stored through
ApplicationConfig, which alone knows their stored keys and shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import ids
from openband.core.provisioning.config import (
    CALLBACK_TYPES,
    CONFIG_FIELDS,
    MESSAGING,
    URL_FIELDS,
    VOICE,
    ApplicationConfig,
    Credentials,
)
from openband.core.provisioning.validators import (
    E_APP_IN_USE,
    E_APP_NOT_FOUND,
    choice,
    http_url,
    invalid,
    max_len,
    missing,
    required_text,
    text,
)
from openband.errors import Conflict, InvalidInput, NotFound
from openband.store import provisioning as repo
from openband.store.provisioning import ApplicationRow, AssociatedPeer

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
    conn: AsyncConnection, account_id: str, data: ApplicationInput
) -> ApplicationRow:
    service_type = _service_type(data.service_type)
    if service_type is None:
        raise missing("ServiceType")
    name = required_text(data.name, "AppName")
    config = _checked(service_type, name, _validated(data.config, {}))
    app_id = ids.application_id()
    await repo.insert_application(conn, app_id, account_id, service_type, name, config.to_json())
    return await get_application(conn, account_id, app_id)


async def _save_app(
    conn: AsyncConnection,
    current: ApplicationRow,
    service_type: str,
    name: str,
    values: Mapping[str, Any],
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
    await repo.update_application(conn, current.id, service_type, name, config.to_json())
    return await get_application(conn, current.account_id, current.id)


async def replace_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput
) -> ApplicationRow:
    """PUT: the new document replaces every callback field (ServiceType may be omitted)."""
    current = await load_application(conn, account_id, app_id, lock=True)
    service_type = _service_type(data.service_type) or current.service_type
    name = required_text(data.name, "AppName")
    values = _validated(data.config, current.config)
    return await _save_app(conn, current, service_type, name, values)


async def patch_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput
) -> ApplicationRow:
    """PATCH: only the given fields change; a URL field set to 'remove' is deleted."""
    current = await load_application(conn, account_id, app_id, lock=True)
    service_type = _service_type(data.service_type) or current.service_type
    name = text(data.name) or current.name
    given = dict(data.config)
    removed = {
        k
        for k in URL_FIELDS
        if isinstance(given.get(k), str) and given[k].strip().lower() == "remove"
    }
    for k in removed:
        given.pop(k)
    values: dict[str, Any] = {k: v for k, v in current.config.items() if k not in removed}
    for key, value in _validated(given, current.config).items():
        old = Credentials.from_json(values.get(key)) if isinstance(value, Credentials) else None
        if old is not None:
            # Creds change part by part: a PATCH with only a Password keeps the UserId.
            value = Credentials(value.user or old.user, value.password or old.password)
        values[key] = value
    return await _save_app(conn, current, service_type, name, values)


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
