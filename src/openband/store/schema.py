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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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
