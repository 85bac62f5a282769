"""Secrets at rest: callback passwords and signing secrets are stored sealed, not as plaintext.

    sealed:v1:<key id>:<Fernet token>

Fernet (the `cryptography` package): AES-128-CBC with a random IV and HMAC-SHA256 over it, so a
sealed value can be neither read nor altered without the key. Chosen over AES-GCM because every
callback seals its password again: at thousands of callbacks a second, random 96-bit GCM nonces
would approach their safe limit (2^32 per key) within a year, and a repeated GCM nonce gives away
the key's authenticator; a repeated CBC IV gives away next to nothing.

The key id (a hash of the key, never the key) says which key sealed a value, so opening needs no
trial decryption, rotation can tell what is left to re-seal, and a node lacking a key can say
which one. A stored value without the prefix is legacy plaintext and opens as itself.

Keys: `secret_keys` (the first seals, every one opens; rotation puts a new key first, runs
`openband secrets rotate`, then drops the old one), or when none is given, a key generated on
first start into `secret_key_file` (default: openband.key in the data directory, beside the
SQLite database). Nothing here logs a key or a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from openband.config import Settings

log = logging.getLogger(__name__)

PREFIX = "sealed:"
VERSION = "v1"
KEY_FILE_NAME = "openband.key"
# Where the data directory is when the database is not a SQLite file (relative to the working
# directory, like the default database).
DEFAULT_DATA_DIR = "var"


class SealingError(Exception):
    """A key is malformed, or a sealed value cannot be opened with the keys given. The message
    names the setting to fix and never contains a key or a secret."""


def generate_key() -> str:
    """A new random key, in the form `secret_keys` takes (32 bytes, url-safe base64)."""
    return Fernet.generate_key().decode()


def key_id(key: str) -> str:
    """A short public name for a key: the first 8 hex digits of a SHA-256 of it."""
    return hashlib.sha256(b"openband-sealing-key:" + key.encode()).hexdigest()[:8]


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def sealed_with(value: str) -> str | None:
    """The key id a sealed value names (None for plaintext or a malformed value)."""
    parts = value.split(":", 3)
    if len(parts) != 4 or parts[0] + ":" != PREFIX or parts[1] != VERSION:
        return None
    return parts[2]


def _fernet(key: str, index: int) -> Fernet:
    try:
        raw = base64.urlsafe_b64decode(key.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SealingError(
            f"secret_keys[{index}] (or line {index + 1} of secret_key_file) is not a key (32 "
            "bytes in url-safe base64); make one with `openband secrets generate-key`"
        )
    return Fernet(base64.urlsafe_b64encode(raw))


class Sealer:
    """Seals with the first key; opens with any of them. Cheap to call (a microsecond or two a
    value), so callers seal and open on their hot paths without caching."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SealingError("no secret key: set secret_keys or secret_key_file")
        self._keys: dict[str, Fernet] = {}
        for index, key in enumerate(keys):
            self._keys.setdefault(key_id(key.strip()), _fernet(key, index))
        self.key_id = key_id(keys[0].strip())
        self._current = self._keys[self.key_id]
        self._head = f"{PREFIX}{VERSION}:{self.key_id}:"

    def __repr__(self) -> str:
        return f"Sealer(keys={list(self._keys)})"  # key ids only

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: str) -> str:
        return self._head + self._current.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        """The plaintext of a sealed value; a value that is not sealed (legacy) as it is."""
        if not is_sealed(token):
            return token
        kid = sealed_with(token)
        if kid is None:
            raise SealingError("a stored secret is sealed in a format this version cannot read")
        fernet = self._keys.get(kid)
        if fernet is None:
            raise SealingError(
                f"a stored secret is sealed with key {kid}, which is not among this node's keys "
                f"({', '.join(self._keys)}): give every node the same secret_keys "
                "(OPENBAND_SECRET_KEYS) or the same secret_key_file"
            )
        try:
            return fernet.decrypt(token.split(":", 3)[3].encode()).decode()
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise SealingError(
                f"a stored secret sealed with key {kid} fails its integrity check "
                "(altered in the database?)"
            ) from exc

    def is_current(self, value: str) -> bool:
        """Sealed with the first key: nothing for rotation to do."""
        return value.startswith(self._head)

    def reseal(self, value: str) -> str:
        """`value` sealed with the first key (opened first if sealed with another or plaintext);
        the same string when it already is."""
        return value if self.is_current(value) else self.seal(self.open(value))

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        return cls(load_keys(settings))


# --- keys from settings ------------------------------------------------------------------------


def data_dir(settings: Settings) -> Path:
    """`data_dir`, else the SQLite database's directory, else ./var."""
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    db = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not db.startswith("file:")
    ):
        return Path(db).expanduser().resolve().parent
    return Path(DEFAULT_DATA_DIR).resolve()


def key_file(settings: Settings) -> Path:
    if settings.secret_key_file:
        return Path(settings.secret_key_file).expanduser()
    return data_dir(settings) / KEY_FILE_NAME


def load_keys(settings: Settings) -> list[str]:
    """`secret_keys` when given; otherwise the key in `key_file`, generated if it is missing."""
    keys = [k.strip() for k in settings.secret_keys if k.strip()]
    if keys:
        return keys
    path = key_file(settings)
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & 0o077:
        log.warning("the secret key file %s is readable by others: chmod 600 it", path)
    text = path.read_text().strip()
    if not text:
        raise SealingError(f"the secret key file {path} is empty (secret_key_file)")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` (0600, in a 0700 directory when it makes one), atomically: a
    process starting at the same moment either wins or reads the winner's key, never a torn
    file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(generate_key() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
    finally:
        os.unlink(tmp)
    log.warning(
        "generated the key that seals stored secrets in %s: back it up with the database; every "
        "node of this database needs the same key (secret_keys or secret_key_file)",
        path,
    )
