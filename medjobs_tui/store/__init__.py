"""The encrypted store (SQLCipher): schema, migrations and queries. Nothing outside this package writes SQL."""

from medjobs_tui.store.db import (
    ClaimLost, StoreError, ThreadLocalDB, connect, is_transient, key_opens, migrate, rekey, savepoint, schema_version,
    set_fence, transaction,
)

__all__ = ["ClaimLost", "StoreError", "ThreadLocalDB", "connect", "is_transient", "key_opens", "migrate", "rekey",
           "savepoint", "schema_version", "set_fence", "transaction"]
