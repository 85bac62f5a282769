"""The one home of configuration: OPENBAND_* environment variables and an optional file.

No other module reads the environment; everything takes a Settings instance.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/openband.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPENBAND_", env_file=None, extra="ignore", validate_default=True
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, description="sqlite:///path or postgresql://…")
    host: str = "127.0.0.1"
    port: int = 8080
    # Public base URL used in Location headers; derived from the request when empty.
    public_url: str = ""
    log_format: str = Field("text", pattern="^(text|json)$")
    log_level: str = "INFO"
    production: bool = False

    # Request bodies above this size are refused before parsing (Dashboard XML, JSON).
    max_body_bytes: int = 1024 * 1024
    # Verified credentials are cached this long (seconds) so the slow hash is paid rarely.
    credential_cache_seconds: float = 30.0

    # The generated NANP inventory: how many lines of each real exchange are on offer.
    inventory_lines_per_exchange: int = Field(1000, ge=1, le=10000)
    inventory_seed: str = "openband"

    # Background workers (orders, disconnects, later messaging and callbacks).
    worker_poll_seconds: float = 0.2
    worker_id: str = ""

    # Create a dev account on an empty database at first start.
    dev_account: bool = True


@lru_cache(maxsize=1)
def _file_settings(path: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(Path(path).read_text())


def load_settings(config_file: str | None = None, **overrides: object) -> Settings:
    """Build Settings from (lowest to highest) the TOML file, the environment, explicit overrides."""
    base: dict[str, object] = {}
    if config_file:
        base.update(_file_settings(config_file))
    clean = {k: v for k, v in overrides.items() if v is not None}
    env = Settings()  # environment + defaults
    merged = {**base, **{k: getattr(env, k) for k in env.model_fields_set}, **clean}
    return Settings(**merged) if merged else env
