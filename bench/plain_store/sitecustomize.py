"""Bench only (bench/sqlcipher_cost.py puts this folder on PYTHONPATH): MedJobs with SQLCipher's encryption
switched off, to measure what encryption costs. The same SQLCipher library opens the store with no
``PRAGMA key`` (plain SQLite pages) and backups are attached with an empty key (plain too). Never on a
clinic's machine: the store it writes is unencrypted."""

import medjobs_tui.store.backup as _backup
import medjobs_tui.store.db as _db

_db._key_pragma = lambda key: "PRAGMA cipher_log_level = NONE"
_backup._raw_key_literal = lambda key: ""
