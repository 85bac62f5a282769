"""The one home of configuration: OPENBAND_* environment variables and an optional file.

No other module reads the environment; everything takes a Settings instance.
"""

from __future__ import annotations

import ipaddress
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

    # --- sign-in checks (core/accounts.py, docs/security.md, "Signing in") ---
    # scrypt runs on this many threads, off the event loop; at most `auth_verify_queue` more
    # checks wait for one, and the next is refused with 429 instead of queueing without limit.
    auth_verify_threads: int = Field(2, ge=1, le=64)
    auth_verify_queue: int = Field(64, ge=0)
    # Failed sign-ins are counted per client address and per username over a sliding window.
    # Past a threshold, that address or username is refused (429 with Retry-After, no password
    # checked) for `auth_backoff_seconds`, doubling with each block in a row up to the max. A
    # success clears the username's count. Counted per process: per node, per `--workers` process.
    auth_failure_window_seconds: float = Field(600.0, gt=0)
    auth_failures_per_source: int = Field(100, ge=1)
    auth_failures_per_username: int = Field(20, ge=1)
    auth_backoff_seconds: float = Field(30.0, gt=0)
    auth_backoff_max_seconds: float = Field(900.0, gt=0)
    # Addresses and usernames tracked at most (least recently failed forgotten first).
    auth_limiter_entries: int = Field(50_000, ge=100)
    # The client address is the TCP peer's. Behind N reverse proxies that each append to
    # X-Forwarded-For, set N: the address is then the Nth entry from its right. 0 trusts none.
    auth_trusted_proxies: int = Field(0, ge=0, le=10)

    # The generated NANP inventory: how many lines of each real exchange are on offer.
    inventory_lines_per_exchange: int = Field(1000, ge=1, le=10000)
    inventory_seed: str = "openband"

    # Background workers (orders, disconnects, later messaging and callbacks).
    worker_poll_seconds: float = 0.2
    worker_id: str = ""
    # How long a claimed job or batch of messages stays a node's; after a crash, another node
    # takes the work over once this passes. Longer than any batch ever takes.
    lease_seconds: float = Field(60.0, ge=2.0)

    # Create a dev account on an empty database at first start.
    dev_account: bool = True

    # --- secrets at rest (sealing.py) ---
    # Keys that seal stored callback passwords and signing secrets: the first seals, every one
    # opens (rotation: put a new key first, run `openband secrets rotate`, drop the old one).
    # Empty: the key in secret_key_file, generated on first start. Every node of one database
    # needs the same keys. A JSON list in OPENBAND_SECRET_KEYS. Never shown in a repr.
    secret_keys: list[str] = Field(default_factory=list, repr=False)
    # The generated key's file; empty: openband.key in data_dir.
    secret_key_file: str = ""
    # Empty: the SQLite database's directory (./var with PostgreSQL).
    data_dir: str = ""

    # --- callback delivery & SSRF policy (delivery/) ---
    # Outbound URLs given by users (callbacks, media) may not reach private networks...
    ssrf_allow_private: bool = False
    # ...nor loopback. None: allowed only while the server listens on loopback alone (every
    # client is local then, and developers run their callback and media servers there) and not
    # in production; listening on any other address refuses it unless this is set to true
    # (`serve --allow-loopback-urls`).
    ssrf_allow_loopback: bool | None = None
    # CIDRs or host names (`*.corp.example` for a suffix) always allowed.
    ssrf_allow: list[str] = Field(default_factory=list)
    callback_timeout_seconds: float = Field(10.0, gt=0)
    callback_retry_hours: float = Field(24.0, gt=0)
    # Backoff between attempts: base * 2**n, jittered, capped.
    callback_retry_base_seconds: float = Field(1.0, gt=0)
    callback_retry_max_seconds: float = Field(600.0, gt=0)
    callback_concurrency: int = Field(256, ge=1)
    callback_per_host: int = Field(32, ge=1)
    callback_batch_size: int = Field(500, ge=1)
    # Delivered and expired events, with their attempts, are deleted this long after they were
    # created (`openband callbacks list` shows them until then); pending ones are never.
    callback_retention_hours: float = Field(72.0, gt=0)
    # Callback delivery in this many processes of its own beside `openband serve`'s server
    # process(es), which then only nudge them (delivery/process.py); 0: each server process
    # delivers itself. One takes the callbacks off the accepting process's core: the setting for
    # 2,000+ messages/s end to end (docs/benchmarks.md).
    delivery_processes: int = Field(0, ge=0, le=16)
    # Set by `openband serve` for its processes: names the delivery processes' nudge sockets.
    delivery_namespace: str = ""

    # --- simulated phone network (network/sim/) ---
    # How long a `never_confirm` handset leaves a message without a receipt before it fails
    # with 9902 delivery-receipt-expired (short: this is a development platform).
    sim_receipt_timeout_seconds: float = Field(10.0, gt=0)
    # Total media bytes a handset may send in one POST /sim/v1/messages.
    sim_max_media_bytes: int = Field(3_750_000, ge=1)

    # --- messaging (core/messaging/) ---
    # Media (uploaded or received) is kept this long, then invisible and swept.
    media_retention_hours: float = Field(48.0, gt=0)
    # Largest media object accepted by PUT /media and fetched for an outbound MMS (3.75 MB).
    media_max_bytes: int = Field(3_932_160, ge=1)
    # --- media storage (store/blobs.py, docs/security.md, "Media") ---
    # Where SQLite's media files go; empty: `<database file>.media` beside it. (PostgreSQL
    # keeps media as large objects in the database, which every node reaches.)
    media_dir: str = ""
    # What one account may keep (uploads and received MMS, until they expire); 0: no limit.
    # Per account: accounts.limits {"media_quota_bytes": …, "media_quota_count": …}.
    media_quota_bytes: int = Field(1024**3, ge=0)
    media_quota_count: int = Field(10_000, ge=0)
    # Request bytes of POST /sim/v1/… bodies (inline base64 media) held at once by a process;
    # beyond it a request is refused with 503 and Retry-After (JSON is parsed whole).
    sim_inflight_bytes: int = Field(16 * 1024 * 1024, ge=1)
    # Sending numbers' locations and accounts' limits are cached this long on the hot path...
    # --- voice (core/voice) ---
    # A live call is its node's under a lease renewed every third of this; the calls of a node
    # that stopped renewing are ended (disconnectCause "error") by another node after it.
    call_lease_seconds: float = Field(30.0, ge=3.0)
    # How long ended calls, their history and GET …/calls/{id} last (Bandwidth: 7 days).
    call_history_days: float = Field(7.0, gt=0)
    # espeak-ng processes synthesising at once (core/voice: SpeakSentence; the simulator).
    speech_workers: int = Field(2, ge=1, le=32)
    # How long an unscripted handset rings before it answers.
    sim_answer_after_seconds: float = Field(1.0, ge=0, le=300)

    messaging_cache_seconds: float = Field(5.0, ge=0)
    # ...and emptied when any node changes a number's owner, location or application: the
    # version counting those changes (store/versions.py) is read at most this often.
    cache_check_seconds: float = Field(0.2, gt=0)
    # Group commit: at most this many messages per accepting transaction, and how many
    # transactions may be in flight at once (SQLite has one writer: 1 is used there).
    messaging_commit_batch: int = Field(1000, ge=1)
    messaging_commit_concurrency: int = Field(3, ge=1)
    # Recipients handed to the carrier per pipeline transaction.
    messaging_send_batch: int = Field(500, ge=1)
    # While API requests arrive, the send pump and callback delivery keep to this share of the
    # time (core/priority.py): bursts are accepted first and drained after. 1 turns it off.
    pipeline_share_under_load: float = Field(0.35, gt=0, le=1)


def loopback_only(host: str) -> bool:
    """Whether listening on `host` reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a name that may resolve elsewhere, or 0.0.0.0 / ::


@lru_cache(maxsize=1)
def _file_settings(path: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(Path(path).read_text())


def load_settings(config_file: str | None = None, **overrides: object) -> Settings:
    """Settings from, lowest to highest: the TOML file, the environment, explicit overrides."""
    base: dict[str, object] = {}
    if config_file:
        base.update(_file_settings(config_file))
    clean = {k: v for k, v in overrides.items() if v is not None}
    env = Settings()  # environment + defaults
    merged = {**base, **{k: getattr(env, k) for k in env.model_fields_set}, **clean}
    return Settings(**merged) if merged else env
