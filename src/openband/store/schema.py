"""Every table, as SQLAlchemy Core metadata. One schema for SQLite and PostgreSQL.

Times are stored as timezone-aware UTC datetimes; ids keep Bandwidth's shapes (UUID application
and order ids, numeric site and sippeer ids, E.164 telephone numbers).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# Integer primary keys that autoincrement on both backends (BIGINT on PostgreSQL).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


# --- cache versions ------------------------------------------------------------------------

# A counter per kind of cached fact, bumped in the transaction of every change to it: each
# process's caches compare it (core/cache.Generation) and are emptied when it moves, so a change
# made on any node is seen everywhere within the check interval (store/versions.py).
cache_versions = Table(
    "cache_versions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False, default=0),
)

# --- accounts & credentials ---------------------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, default=""),
    Column("v1_user_id", String(64), nullable=True, unique=True),
    # Messaging/voice limits (segments per second, queue depth...); {} means unlimited.
    Column("limits", JSON, nullable=False, default=dict),
    _ts("created_at"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # "basic": Dashboard/v2 username:password; "v1": Catapult apiToken:apiSecret.
    Column("kind", String(16), nullable=False),
    Column("principal", String(255), nullable=False),
    Column("secret_hash", String(255), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("kind", "principal"),
)

# --- provisioning ----------------------------------------------------------------------------

applications = Table(
    "applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("service_type", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    # Every callback field of the application (URLs, methods, creds, callback types...).
    Column("config", JSON, nullable=False, default=dict),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_applications_account", "account_id"),
)

sites = Table(
    "sites",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("customer_name", String(255), nullable=True),
    Column("customer_provided_id", String(64), nullable=True),
    Column("address", JSON, nullable=True),
    # Elements echoed back as given (UcTrunkingConfiguration, ...).
    Column("extra", JSON, nullable=False, default=dict),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_sites_account", "account_id"),
    # Bandwidth never reuses a site id; plain INTEGER PRIMARY KEY on SQLite would.
    sqlite_autoincrement=True,
)

sip_peers = Table(
    "sip_peers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("site_id", BigId, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("extra", JSON, nullable=False, default=dict),
    # Messaging product: None when the feature is not enabled.
    Column("sms_feature", JSON, nullable=True),
    Column("mms_feature", JSON, nullable=True),
    Column(
        "messaging_app_id",
        String(36),
        ForeignKey("applications.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # Voice product (origination settings); voice_app_id is HttpVoiceV2AppId.
    Column("origination", JSON, nullable=True),
    Column(
        "voice_app_id",
        String(36),
        ForeignKey("applications.id", ondelete="SET NULL"),
        nullable=True,
    ),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_sip_peers_site", "site_id"),
    sqlite_autoincrement=True,
)

# --- numbers ---------------------------------------------------------------------------------

# Numbers owned by an account (in service). A number is in at most one row: one owner.
phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("tn", String(16), primary_key=True),  # E.164, e.g. +19195551234
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("site_id", BigId, ForeignKey("sites.id"), nullable=True),
    Column("peer_id", BigId, ForeignKey("sip_peers.id"), nullable=True),
    Column("order_id", String(36), nullable=True),
    Column("status", String(32), nullable=False, default="Inservice"),
    Column("npa", String(3), nullable=False),
    Column("nxx", String(3), nullable=False),
    Column("city", String(64), nullable=True),
    Column("state", String(2), nullable=True),
    Column("rate_center", String(32), nullable=True),
    Column("lata", String(8), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_phone_numbers_account", "account_id", "tn"),
    Index("ix_phone_numbers_peer", "peer_id"),
    Index("ix_phone_numbers_npa_nxx", "npa", "nxx"),
)

# Operator-imported inventory (`openband inventory import`). When it has rows it replaces the
# generated NANP inventory; rows stay here while owned (ownership is phone_numbers).
inventory_numbers = Table(
    "inventory_numbers",
    metadata,
    Column("tn", String(16), primary_key=True),
    Column("npa", String(3), nullable=False),
    Column("nxx", String(3), nullable=False),
    Column("line", String(4), nullable=False),
    Column("city", String(64), nullable=True),
    Column("state", String(2), nullable=True),
    Column("rate_center", String(32), nullable=True),
    Column("lata", String(8), nullable=True),
    Column("zip", String(10), nullable=True),
    Column("toll_free", Boolean, nullable=False, default=False),
    Index("ix_inventory_npa_nxx", "npa", "nxx", "line"),
    Index("ix_inventory_state_rc", "state", "rate_center"),
    Index("ix_inventory_state_city", "state", "city"),
    Index("ix_inventory_lata", "lata"),
    Index("ix_inventory_zip", "zip"),
)

# --- orders (number orders and disconnects) --------------------------------------------------

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # "new_number" (POST /orders) or "disconnect" (POST /disconnects).
    Column("order_type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("customer_order_id", String(64), nullable=True),
    Column("name", String(255), nullable=True),
    Column("site_id", BigId, nullable=True),
    Column("peer_id", BigId, nullable=True),
    Column("created_by_user", String(255), nullable=True),
    # The order as requested (search type, quantity, flags), for echo and processing.
    Column("request", JSON, nullable=False, default=dict),
    Column("completed_quantity", Integer, nullable=False, default=0),
    Column("failed_quantity", Integer, nullable=False, default=0),
    Column("summary", Text, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("completed_at", nullable=True),
    Index("ix_orders_account", "account_id", "order_type", "created_at"),
)

order_tns = Table(
    "order_tns",
    metadata,
    Column("order_id", String(36), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("tn", String(16), primary_key=True),
    # "completed" or "failed"
    Column("status", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("error_description", Text, nullable=True),
)

order_history = Table(
    "order_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", String(36), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    _ts("at"),
    Column("note", Text, nullable=False),
    Column("author", String(255), nullable=False, default="System"),
    Column("status", String(32), nullable=False),
    Index("ix_order_history_order", "order_id", "at"),
)

# --- background jobs ---------------------------------------------------------------------------

# Durable work for the background workers (order processing, ...). A job is claimed by one
# worker for a lease; a dead worker's lease expires and another takes the job over.
jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=False),
    _ts("run_at"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(64), nullable=True),
    _ts("claimed_until", nullable=True),
    Column("last_error", Text, nullable=True),
    _ts("created_at"),
    Index("ix_jobs_due", "run_at"),
)

# --- secrets at rest (sealing.py, store/secrets.py) --------------------------------------------

# One known value sealed by the first node to start: every node opens it at start, so a node
# whose keys differ from the ones the stored secrets were sealed with stops there (migration
# 0013). Rotation re-seals it with the others.
sealing_check = Table(
    "sealing_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("sealed", Text, nullable=False),
    _ts("updated_at"),
)

# --- callback delivery -------------------------------------------------------------------------

# The durable outbox: one row per webhook, written in the transaction of the change that caused
# it, delivered at least once by delivery/worker.py. `payload` is the body exactly as sent, so a
# retry or a replay sends the same bytes with the same event id. Events sharing an
# `ordering_key` (message id + recipient) are sent one after another in `seq` order.
# No foreign keys: the outbox is history and must not slow the hot insert path.
callback_events = Table(
    "callback_events",
    metadata,
    Column("id", String(36), primary_key=True),  # the stable event id (X-OpenBand-Event-Id)
    Column("account_id", String(32), nullable=False),
    Column("application_id", String(36), nullable=True),
    Column("kind", String(16), nullable=False),  # "messaging" | "voice"
    Column("message_id", String(64), nullable=True),
    # Bytewise order (COLLATE "C" on PostgreSQL; SQLite's BINARY default) so that the keys of
    # one message, "<message id>:<recipient>" (store/callbacks.message_key), are one range of
    # ix_callback_events_key_seq: that range is how events are looked up by message, with no
    # index of their own.
    Column(
        "ordering_key",
        String(160).with_variant(String(160, collation="C"), "postgresql"),
        nullable=False,
    ),
    Column("seq", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("url", Text, nullable=False),
    # scheme://host:port of url: the unit of the per-host concurrency cap.
    Column("host", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("auth_user", String(255), nullable=True),
    # Sealed (sealing.py), so longer than the 255 characters they open to: TEXT on PostgreSQL
    # (migration 0013); SQLite does not enforce a VARCHAR length, and recreating the outbox to
    # rename its type would copy every row. Rows from before sealing hold plaintext, read as is.
    Column("auth_password", String(255).with_variant(Text(), "postgresql"), nullable=True),
    Column("signing_secret", String(255).with_variant(Text(), "postgresql"), nullable=True),
    Column("status", String(16), nullable=False),  # pending | delivered | expired
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_attempt_at"),
    Column("claimed_by", String(64), nullable=True),
    _ts("claimed_until", nullable=True),
    _ts("created_at"),
    _ts("delivered_at", nullable=True),
    _ts("expires_at"),
    # Only pending events: delivering one deletes its entry (no re-insert), and the claim scans
    # nothing but the due. A claim moves next_attempt_at to its lease end, so claimed events
    # leave the due range too. Queries must spell status = 'pending' as a literal to use it.
    Index(
        "ix_callback_events_pending",
        "next_attempt_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # Serves the enqueue's max(seq), the claim's "earlier pending event of the key" probe and
    # the lookup by message (a key range, see ordering_key).
    Index("ix_callback_events_key_seq", "ordering_key", "seq"),
    # The retention sweep (store/callbacks.purge_finished) reads finished events only. Partial
    # so that the enqueue and the claim, which write a pending row version, add no entry here:
    # every index of a table gains an entry at each such write (PostgreSQL's updates here are
    # not HOT: the pending index's column changes).
    Index(
        "ix_callback_events_finished",
        "created_at",
        sqlite_where=text("status IN ('delivered', 'expired')"),
        postgresql_where=text("status IN ('delivered', 'expired')"),
    ),
)

callback_attempts = Table(
    "callback_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # callback_events.id (no FK, see messages; the retention sweep deletes attempts first)
    Column("event_id", String(36), nullable=False),
    _ts("at"),
    Column("status_code", Integer, nullable=True),  # None: no HTTP answer
    Column("latency_ms", Float, nullable=False),
    Column("error", Text, nullable=True),
    Column("next_retry_at", DateTime(timezone=True), nullable=True),  # None: done or expired
    Column("worker", String(64), nullable=True),
    Index("ix_callback_attempts_event", "event_id", "at"),
)

# --- messaging -------------------------------------------------------------------------------

# One row per message (outbound request or inbound MO). Per-recipient state lives in
# message_recipients, which is also what the list/search API returns (one item per recipient).
messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    # No foreign keys on the append-heavy tables (messages, message_recipients,
    # callback_attempts; migration 0009): each inserted row would look up and lock its parent
    # row (FOR KEY SHARE on PostgreSQL, a WAL record per lock, and every group commit locking
    # the same account row). The code that inserts takes the ids from the rows it has just
    # written or from the authenticated account; deletions name the child rows themselves.
    Column("account_id", String(32), nullable=False),
    Column("application_id", String(36), nullable=True),
    Column("direction", String(3), nullable=False),  # "out" | "in"
    Column("owner", String(32), nullable=False),  # the account's number (from, or the recipient)
    Column("from_tn", String(32), nullable=False),
    Column("to_tns", JSON, nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("media", JSON, nullable=False, default=list),
    Column("tag", String(1024), nullable=True),
    Column("priority", String(8), nullable=False, default="default"),
    Column("expiration", DateTime(timezone=True), nullable=True),
    Column("segment_count", Integer, nullable=False),
    Column("message_type", String(4), nullable=False),  # "sms" | "mms"
    _ts("created_at"),
    Index("ix_messages_account_created", "account_id", "created_at"),
)

message_recipients = Table(
    "message_recipients",
    metadata,
    Column("message_id", String(40), primary_key=True),  # messages.id (no FK: see messages)
    Column("recipient", String(32), primary_key=True),
    Column("account_id", String(32), nullable=False),
    Column("direction", String(8), nullable=False),  # "OUTBOUND" | "INBOUND"
    Column("source_tn", String(32), nullable=False),
    Column("message_type", String(4), nullable=False),
    # RECEIVED QUEUED SENDING SENT FAILED DELIVERED ACCEPTED UNDELIVERED (Bandwidth's list enum)
    Column("status", String(12), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("carrier_name", String(64), nullable=True),
    Column("segment_count", Integer, nullable=False),
    Column("message_size", Integer, nullable=False, default=0),
    Column("attachment_count", Integer, nullable=False, default=0),
    Column("recipient_count", Integer, nullable=False, default=1),
    # When the pipeline may hand this recipient to the carrier (rate limits schedule it).
    Column("send_at", DateTime(timezone=True), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_msgrcpt_account_time", "account_id", "created_at"),
    Index("ix_msgrcpt_account_source", "account_id", "source_tn"),
    Index("ix_msgrcpt_account_dest", "account_id", "recipient"),
    # The send pipeline's claim column: not NULL = still to hand to the carrier (migration 0005).
    # Only those rows (migration 0010): a recipient handed over leaves the index instead of
    # adding a NULL entry that stays forever. Queries say `send_at <= x` or `IS NOT NULL`,
    # which both backends take as implying the predicate.
    Index(
        "ix_msgrcpt_due",
        "send_at",
        sqlite_where=text("send_at IS NOT NULL"),
        postgresql_where=text("send_at IS NOT NULL"),
    ),
)

# Media: uploaded by users (PUT /media/{id}) or stored from inbound MMS. Kept 48 h by default.
media = Table(
    "media",
    metadata,
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("media_id", String(1024), primary_key=True),
    Column("content_type", String(255), nullable=False),
    Column("cache_control", String(255), nullable=True),
    Column("size", Integer, nullable=False),
    # The bytes live in the blob store (store/blobs.py); `content` holds only rows written
    # before migration 0012, read as they are until they expire.
    Column("content", LargeBinary, nullable=True),
    Column("blob_ref", String(64), nullable=True),
    _ts("created_at"),
    _ts("expires_at"),
    Index("ix_media_expires", "expires_at"),
    # The files store's orphan sweep asks which of the files it found a row names.
    Index("ix_media_blob_ref", "blob_ref"),
)

# Blobs written outside any transaction (a streamed upload) that no media row names yet: the
# sweep deletes those left behind by a crash (store/blobs.py, PostgreSQL large objects).
blob_uploads = Table(
    "blob_uploads",
    metadata,
    Column("ref", String(64), primary_key=True),
    _ts("created_at"),
)

# Rate-limit schedule: the next free send slot per key ("acct:<id>" or "tn:<e164>").
rate_slots = Table(
    "rate_slots",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("next_free_at", DateTime(timezone=True), nullable=False),
)

# --- simulator (network/sim/, queried by store/simulator.py) ------------------------------

# A virtual handset's scripted behaviour (absent row: deliver).
sim_handsets = Table(
    "sim_handsets",
    metadata,
    # Whose script: an account's, for its own messages and calls; "" is the operator's
    # platform-wide default (`openband handsets set-default`), used when an account has none.
    Column("account_id", String(32), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("behaviour", JSON, nullable=False, default=dict),
    _ts("updated_at"),
)

# What each handset received or sent (the simulator's observable record).
sim_handset_messages = Table(
    "sim_handset_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("handset", String(32), nullable=False),
    Column("direction", String(8), nullable=False),  # "received" | "sent"
    Column("peer", String(32), nullable=False),  # the platform number on the other side
    Column("account_id", String(32), nullable=False),  # the account owning `peer`
    Column("message_id", String(40), nullable=True),
    Column("text", Text, nullable=False, default=""),
    Column("media", JSON, nullable=False, default=list),
    Column("segments", JSON, nullable=False, default=list),
    _ts("at"),
    Index("ix_sim_msgs_handset", "handset", "at"),
)

# --- voice (store/calls.py) -----------------------------------------------------------------

# One row per call leg: identity, lifecycle times and outcome (Bandwidth's callState), how its
# webhooks are sent (`settings`, secrets sealed), and who runs it. A live call is owned by one
# node (`node`) under a lease renewed while it runs; a call whose lease passed is ended by any
# node with disconnectCause "error" (core/voice/runtime.py). Kept 7 days after it ends.
calls = Table(
    "calls",
    metadata,
    Column("id", String(64), primary_key=True),  # callId, c-…
    Column("account_id", String(32), nullable=False),
    Column("application_id", String(36), nullable=False),
    Column("direction", String(8), nullable=False),  # inbound | outbound
    Column("from_tn", String(256), nullable=False),
    Column("to_tn", String(256), nullable=False),
    Column("state", String(16), nullable=False),  # queued initiated answered disconnected
    Column("priority", Integer, nullable=False, default=5),
    Column("tag", Text, nullable=True),
    Column("settings", JSON, nullable=False),
    Column("parent_call_id", String(64), nullable=True),
    _ts("enqueued_time", nullable=True),
    _ts("start_time", nullable=True),
    _ts("answer_time", nullable=True),
    _ts("end_time", nullable=True),
    Column("disconnect_cause", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("error_id", String(64), nullable=True),
    _ts("last_update"),
    Column("node", String(64), nullable=True),
    _ts("lease_until", nullable=True),
    _ts("created_at"),
    Index("ix_calls_account_created", "account_id", "created_at"),
    # Live calls only: the concurrent-call count (by account) and the lease sweep (a scan of
    # this small index) read nothing else; queries spell the state as a literal so SQLite's
    # planner can match the partial predicate.
    Index(
        "ix_calls_live",
        "account_id",
        "lease_until",
        sqlite_where=text("state != 'disconnected'"),
        postgresql_where=text("state != 'disconnected'"),
    ),
)

# A call's history, in order: each webhook and the BXML it returned, each verb run, what the
# far end heard, digits, the end (GET /sim/v1/calls/{id}; the console later).
call_history = Table(
    "call_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("call_id", String(64), nullable=False),
    _ts("at"),
    Column("kind", String(24), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_call_history_call", "call_id", "id"),
)

# Recordings of calls; the audio lives in the blob store (store/blobs.py) like media.
call_recordings = Table(
    "call_recordings",
    metadata,
    Column("id", String(64), primary_key=True),  # recordingId
    Column("call_id", String(64), nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("application_id", String(36), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("from_tn", String(256), nullable=False),
    Column("to_tn", String(256), nullable=False),
    _ts("start_time"),
    _ts("end_time"),
    Column("duration", Float, nullable=False),
    Column("channels", Integer, nullable=False, default=1),
    Column("file_format", String(8), nullable=False),  # wav | mp3
    Column("status", String(16), nullable=False),  # complete partial error processing
    Column("size", Integer, nullable=False, default=0),
    Column("blob_ref", String(64), nullable=True),
    Column("tag", Text, nullable=True),
    _ts("created_at"),
    Index("ix_call_recordings_call", "call_id", "start_time"),
    Index("ix_call_recordings_account", "account_id", "start_time"),
)
