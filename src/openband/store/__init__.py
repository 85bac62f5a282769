"""Persistence: tables, migrations and the queries the core needs. SQLite or PostgreSQL."""
