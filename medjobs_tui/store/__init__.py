"""SQLite store: schema, migrations and queries. Nothing outside this package writes SQL."""

from medjobs_tui.store.db import StoreError, ThreadLocalDB, connect, migrate, schema_version, transaction

__all__ = ["StoreError", "ThreadLocalDB", "connect", "migrate", "schema_version", "transaction"]
