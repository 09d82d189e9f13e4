"""Queries of the clinical tables used by the six job handlers, the demo generator and the console.

Conventions: instants are UTC ISO 8601 text as ``clock.iso`` writes them (``2026-11-29T13:00:00+00:00``),
so equality on text is equality of instants; JSON list columns are decoded to Python lists.
Writers do not commit: call them inside ``store.db.transaction(db)`` (one transaction per batch), except
``replace_analytics_day`` which is one transaction of its own (joining the caller's if one is open).
Rows returned to callers carry pseudonyms (P-00012), never names or birth dates.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import sqlite_utils

from medjobs_tui.store.db import transaction

CLINIC_TABLES_CHILD_FIRST = (
    "analytics_adherence", "analytics_supply", "analytics_safety", "notifications", "interaction_alerts",
    "supply_status", "patient_preferences", "dose_log_history", "dose_log", "supply_counts", "dispenses", "medication_requests", "patients",
)
"""Tables holding the clinic's patient data, children before parents (the order ``clear_clinic_data`` deletes)."""

_CHUNK = 500


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@contextmanager
def _write(db: sqlite_utils.Database) -> Iterator[None]:
    """A transaction of its own, or the caller's if one is already open."""
    if db.conn.in_transaction:
        yield
    else:
        with transaction(db):
            yield


# ------------------------------------------------------------------------------------------ reads


ORDER_PLAN_COLUMNS = ("id", "patient_id", "status", "schedule_status", "dose_plan", "times_of_day", "timing_code",
                      "authored_on", "bounds_start", "bounds_end", "dose_quantity", "dose_unit", "created_at",
                      "dispense_quantity", "expected_supply_days", "repeats_allowed", "time_critical")
"""The medication_requests columns the dose and supply jobs read (an order's plan, bounds, supply and refills)."""


def active_orders(db: sqlite_utils.Database, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every medication request with status 'active' that is an order to give its medication (not
    ``schedule_status`` 'inactive': an active request with doNotPerform or an intent other than an order, see
    ``fhir.mapping.not_to_give``), joined with its patient, ordered by id.

    Each dict has the medication_requests columns (``times_of_day`` and ``ingredients`` decoded to lists),
    or only ``columns`` of them when given (e.g. ``ORDER_PLAN_COLUMNS``: less to read and decode), plus
    ``pseudonym``, ``deceased`` (0/1), ``patient_timezone`` (IANA zone or None = clinic zone) and
    ``reminders_opt_out`` (0/1). Raises ValueError for a column name that is not an identifier.
    """
    if columns is None:
        picked = "mr.*"
    else:
        if not all(c.isidentifier() for c in columns):
            raise ValueError("active_orders: columns must be column names")
        picked = ", ".join(f"mr.{c}" for c in columns)
    cur = db.execute(
        f"SELECT {picked}, p.pseudonym, p.deceased, p.timezone AS patient_timezone, p.reminders_opt_out"
        " FROM medication_requests mr JOIN patients p ON p.id = mr.patient_id"
        " WHERE mr.status = 'active' AND mr.schedule_status != 'inactive' ORDER BY mr.id"
    )
    out = _rows(cur)
    decode = [c for c in ("times_of_day", "ingredients") if columns is None or c in columns]
    for r in out:
        for c in decode:
            r[c] = list(_json_list(r[c])) if r[c] else []
    return out


@functools.lru_cache(maxsize=4096)
def _json_list(text: str) -> tuple[Any, ...]:
    # a JSON list column's text, decoded once per distinct text (orders share a few times-of-day lists)
    return tuple(json.loads(text))


def latest_supply_counts(db: sqlite_utils.Database) -> dict[int, dict[str, Any]]:
    """medication_request_id -> the latest staff count ``{quantity, counted_at, unit}`` (units, UTC text, canonical
    unit or None for a count recorded before units were kept)."""
    cur = db.execute(
        "SELECT sc.medication_request_id, sc.quantity, sc.counted_at, sc.unit FROM supply_counts sc"
        " JOIN (SELECT medication_request_id, max(counted_at) AS at FROM supply_counts"
        "       GROUP BY medication_request_id) last"
        " ON last.medication_request_id = sc.medication_request_id AND last.at = sc.counted_at"
        " ORDER BY sc.id"
    )
    return {r["medication_request_id"]: r for r in _rows(cur)}


def dispenses_by_order(db: sqlite_utils.Database, since: str | None = None) -> dict[int, list[dict[str, Any]]]:
    """medication_request_id -> its dispenses ``{id, quantity, days_supply, handed_over_at}``, oldest first.

    Dispenses without a handed-over instant are left out (they cannot be placed in time); with ``since`` (UTC
    text), so are those handed over before it.
    """
    cur = db.execute(
        "SELECT id, medication_request_id, quantity, days_supply, handed_over_at FROM dispenses"
        " WHERE medication_request_id IS NOT NULL AND handed_over_at IS NOT NULL"
        + (" AND handed_over_at >= ?" if since is not None else "") +
        " ORDER BY medication_request_id, handed_over_at, id", [since] if since is not None else []
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for r in _rows(cur):
        out.setdefault(r["medication_request_id"], []).append(r)
    return out


def fills_for_pdc(db: sqlite_utils.Database, since: str | None = None) -> dict[int, list[tuple[str, Any, Any]]]:
    """medication_request_id -> its fills ``(handed_over_at, quantity, days_supply)``, oldest first (as
    ``dispenses_by_order`` orders them), for orders with at least two fills with a handed-over instant (PQA's
    PDC needs two: the others are not read); with ``since`` (UTC text) only the fills handed over then or later."""
    cur = db.execute(
        "SELECT medication_request_id, handed_over_at, quantity, days_supply FROM dispenses"
        " WHERE medication_request_id IN (SELECT medication_request_id FROM dispenses WHERE handed_over_at IS NOT NULL"
        "                                 GROUP BY medication_request_id HAVING count(*) > 1)"
        " AND handed_over_at IS NOT NULL" + (" AND handed_over_at >= ?" if since is not None else "") +
        " ORDER BY medication_request_id, handed_over_at, id", [since] if since is not None else [])
    out: dict[int, list[tuple[str, Any, Any]]] = {}
    for mr, at, quantity, days_supply in cur.fetchall():
        found = out.get(mr)
        if found is None:
            found = out[mr] = []
        found.append((at, quantity, days_supply))
    return out


def fill_counts(db: sqlite_utils.Database) -> dict[int, int]:
    """medication_request_id -> how many dispenses it has with a handed-over instant (those ``dispenses_by_order``
    lists), counted in SQL."""
    return dict(db.execute(
        "SELECT medication_request_id, count(*) FROM dispenses"
        " WHERE medication_request_id IS NOT NULL AND handed_over_at IS NOT NULL GROUP BY medication_request_id"
    ).fetchall())


def fill_summaries(db: sqlite_utils.Database) -> dict[int, dict[str, Any]]:
    """medication_request_id -> what the supply jobs need of its fills, read in SQL (no row per dispense reaches
    Python): ``fills`` (dispenses with a handed-over instant), the last fill ``quantity``, ``days_supply`` and
    ``handed_over_at`` (the latest instant; of fills at one instant the highest id, as ``dispenses_by_order``
    lists them last), and ``added`` (the quantities of the fills strictly after the order's latest staff count,
    oldest first: an empty list without a count). Orders without such dispenses are absent. Instants compare
    as text (``clock.iso`` text orders as the instants do)."""
    out: dict[int, dict[str, Any]] = {}
    cur = db.execute(
        "SELECT g.medication_request_id, g.fills, d.quantity, d.days_supply, d.handed_over_at"
        " FROM (SELECT medication_request_id, count(*) AS fills, max(handed_over_at) AS last_at FROM dispenses"
        "       WHERE medication_request_id IS NOT NULL AND handed_over_at IS NOT NULL"
        "       GROUP BY medication_request_id) g"
        " JOIN dispenses d ON d.id = (SELECT id FROM dispenses x WHERE x.medication_request_id = g.medication_request_id"
        "                             AND x.handed_over_at = g.last_at ORDER BY x.id DESC LIMIT 1)")
    for mr, fills, quantity, days_supply, at in cur.fetchall():
        out[mr] = {"fills": fills, "quantity": quantity, "days_supply": days_supply, "handed_over_at": at,
                   "added": []}
    cur = db.execute(
        "SELECT d.medication_request_id, d.quantity FROM"
        " (SELECT medication_request_id, max(counted_at) AS at FROM supply_counts GROUP BY medication_request_id) c"
        " JOIN dispenses d ON d.medication_request_id = c.medication_request_id AND d.handed_over_at > c.at"
        " ORDER BY d.medication_request_id, d.handed_over_at, d.id")
    for mr, quantity in cur.fetchall():
        out[mr]["added"].append(quantity)
    return out


def dose_log_between(db: sqlite_utils.Database, start: str, end: str,
                     status: str | None = None) -> dict[tuple[int, str], str]:
    """(medication_request_id, dose_instant) -> status for dose-log entries with start <= instant < end (UTC text),
    only those of ``status`` when given. Read from the covering index on (instant, order, status)."""
    cur = db.execute(
        "SELECT medication_request_id, dose_instant, status FROM dose_log"
        " WHERE dose_instant >= ? AND dose_instant < ?" + (" AND status = ?" if status is not None else ""),
        [start, end] + ([status] if status is not None else []),
    )
    return {(r[0], r[1]): r[2] for r in cur.fetchall()}


def existing_notification_keys(db: sqlite_utils.Database, keys: Iterable[str]) -> set[str]:
    """The subset of ``keys`` already present in the notification outbox."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        marks = ",".join("?" * len(chunk))
        cur = db.execute(f"SELECT idempotency_key FROM notifications WHERE idempotency_key IN ({marks})", list(chunk))
        found.update(r[0] for r in cur.fetchall())
    return found


def supply_status_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Current supply_status rows by status: ``{critical, low, ok, unknown}`` (zeros included)."""
    out = {"critical": 0, "low": 0, "ok": 0, "unknown": 0}
    for status, n in db.execute("SELECT status, count(*) FROM supply_status GROUP BY status").fetchall():
        out[status] = n
    return out


def interaction_alert_counts(db: sqlite_utils.Database, start: str, end: str) -> dict[str, int]:
    """Alerts by severity that were created in [start, end) or were open (neither acknowledged nor
    superseded) at ``end``."""
    cur = db.execute(
        "SELECT severity, count(*) FROM interaction_alerts"
        " WHERE (created_at >= ? AND created_at < ?)"
        "    OR (created_at < ? AND (acknowledged_at IS NULL OR acknowledged_at >= ?)"
        "        AND (superseded_at IS NULL OR superseded_at >= ?))"
        " GROUP BY severity", [start, end, end, end, end],
    )
    return {s: n for s, n in cur.fetchall()}


def runs_finished_between(db: sqlite_utils.Database, start: str, end: str) -> list[dict[str, Any]]:
    """Runs whose ``finished_at`` is in [start, end): ``{job_name, status, duration_s}``, by id."""
    cur = db.execute(
        "SELECT job_name, status, duration_s FROM runs WHERE finished_at >= ? AND finished_at < ? ORDER BY id",
        [start, end],
    )
    return _rows(cur)


def has_patients(db: sqlite_utils.Database) -> bool:
    """True if the store holds at least one patient."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM patients)").fetchone()[0] == 1


def patient_sources(db: sqlite_utils.Database) -> dict[str, int]:
    """How many patients came from each source ('fhir', 'demo')."""
    return dict(db.execute("SELECT source, count(*) FROM patients GROUP BY source").fetchall())


def table_row_counts(conn: sqlite3.Connection, tables: Iterable[str] | None = None) -> dict[str, int]:
    """Row count of each table (all user tables when ``tables`` is None) on a plain sqlite3 connection.

    Table names are checked against sqlite_master before use; unknown names raise ValueError.
    """
    known = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    wanted = known if tables is None else list(tables)
    out: dict[str, int] = {}
    for name in wanted:
        if name not in known:
            raise ValueError(f"no table {name!r} in the database")
        out[name] = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
    return out


def integrity_check(conn: sqlite3.Connection) -> str:
    """The text of ``PRAGMA integrity_check`` on a plain sqlite3 connection ('ok' for a sound database)."""
    return "\n".join(r[0] for r in conn.execute("PRAGMA integrity_check"))


def schema_version_of(conn: sqlite3.Connection) -> int | None:
    """The highest migration recorded in a database file opened with plain sqlite3 (None if it has none)."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] if has else None


# ----------------------------------------------------------------------------------------- writes


def insert_dose_log(db: sqlite_utils.Database, *, medication_request_id: int, patient_id: int, dose_instant: str,
                    status: str, recorded_at: str) -> bool:
    """Record a dose-log entry unless one exists for (order, dose instant); True if inserted.

    ``status`` is taken | missed | reminder_missed. Never overwrites an existing entry.
    """
    cur = db.execute(
        "INSERT OR IGNORE INTO dose_log (medication_request_id, patient_id, dose_instant, status, recorded_at)"
        " VALUES (?, ?, ?, ?, ?)", [medication_request_id, patient_id, dose_instant, status, recorded_at],
    )
    return cur.rowcount == 1


def insert_dose_log_many(db: sqlite_utils.Database, rows: Sequence[tuple[int, int, str, str, str]]) -> int:
    """Bulk ``insert_dose_log``: rows of (medication_request_id, patient_id, dose_instant, status, recorded_at).

    Returns the dose-log rows inserted (the history rows the table's trigger adds are not counted)."""
    cur = db.conn.executemany(
        "INSERT OR IGNORE INTO dose_log (medication_request_id, patient_id, dose_instant, status, recorded_at)"
        " VALUES (?, ?, ?, ?, ?)", rows,
    )
    return cur.rowcount


def insert_interaction_alert(db: sqlite_utils.Database, *, patient_id: int, rule_id: str, drug_a: str, drug_b: str,
                             severity: str, source: str, medication_request_ids: Sequence[int],
                             med_list_hash: str, run_id: int | None, created_at: str) -> tuple[int, bool]:
    """Insert an interaction alert unless one exists for (patient, rule, drug_a, drug_b, med_list_hash).

    Returns (alert id, True if newly inserted). drug_a is the object drug, drug_b the precipitant.
    """
    cur = db.execute(
        "INSERT OR IGNORE INTO interaction_alerts (patient_id, rule_id, drug_a, drug_b, severity, source,"
        " medication_request_ids, med_list_hash, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [patient_id, rule_id, drug_a, drug_b, severity, source, json.dumps(list(medication_request_ids)),
         med_list_hash, run_id, created_at],
    )
    new = cur.rowcount == 1
    row = db.execute(
        "SELECT id FROM interaction_alerts WHERE patient_id = ? AND rule_id = ? AND drug_a = ? AND drug_b = ?"
        " AND med_list_hash = ?", [patient_id, rule_id, drug_a, drug_b, med_list_hash],
    ).fetchone()
    return row[0], new


def upsert_supply_status(db: sqlite_utils.Database, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or replace supply_status rows (keys: the table's columns); returns the number written."""
    values = [(r["medication_request_id"], r["patient_id"], r.get("current_supply"), r.get("daily_usage"),
               r.get("days_remaining"), r["status"], r.get("refills_left"), r["computed_at"], r.get("run_id"))
              for r in rows]
    db.conn.executemany(
        "INSERT INTO supply_status (medication_request_id, patient_id, current_supply, daily_usage,"
        " days_remaining, status, refills_left, computed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (medication_request_id) DO UPDATE SET patient_id = excluded.patient_id,"
        " current_supply = excluded.current_supply, daily_usage = excluded.daily_usage,"
        " days_remaining = excluded.days_remaining, status = excluded.status,"
        " refills_left = excluded.refills_left, computed_at = excluded.computed_at, run_id = excluded.run_id",
        values,
    )
    return len(values)


def prune_supply_status(db: sqlite_utils.Database, keep_ids: Iterable[int]) -> int:
    """Delete supply_status rows of orders not in ``keep_ids`` (stopped orders, deceased patients); count deleted."""
    keep = set(keep_ids)
    stale = [r[0] for r in db.execute("SELECT medication_request_id FROM supply_status").fetchall() if r[0] not in keep]
    for chunk in _chunks(stale):
        db.execute(f"DELETE FROM supply_status WHERE medication_request_id IN ({','.join('?' * len(chunk))})",
                   list(chunk))
    return len(stale)


ANALYTICS_TABLES = ("analytics_adherence", "analytics_supply", "analytics_safety", "analytics_performance")


def replace_analytics_day(db: sqlite_utils.Database, day: str, *, adherence: Sequence[dict[str, Any]],
                          supply: dict[str, int], safety: dict[str, int], performance: Sequence[dict[str, Any]],
                          run_id: int | None) -> dict[str, int]:
    """Delete every analytics row of ``day`` (YYYY-MM-DD) and insert the given ones, in ONE transaction.

    ``adherence`` rows: medication_request_id, patient_id, doses_scheduled, doses_taken, adherence_pct,
    pdc_pct. ``supply``: counts by status. ``safety``: alerts by severity. ``performance`` rows: job_name,
    runs, succeeded, success_rate, p95_duration_s. Returns rows written per table.
    """
    with _write(db):
        for table in ANALYTICS_TABLES:
            db.execute(f"DELETE FROM {table} WHERE day = ?", [day])
        db.conn.executemany(
            "INSERT INTO analytics_adherence (day, medication_request_id, patient_id, doses_scheduled, doses_taken,"
            " adherence_pct, pdc_pct, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(day, r["medication_request_id"], r["patient_id"], r["doses_scheduled"], r["doses_taken"],
              r.get("adherence_pct"), r.get("pdc_pct"), run_id) for r in adherence],
        )
        db.execute(
            "INSERT INTO analytics_supply (day, critical, low, ok, unknown, run_id) VALUES (?, ?, ?, ?, ?, ?)",
            [day, supply.get("critical", 0), supply.get("low", 0), supply.get("ok", 0), supply.get("unknown", 0),
             run_id],
        )
        db.conn.executemany(
            "INSERT INTO analytics_safety (day, severity, alerts, run_id) VALUES (?, ?, ?, ?)",
            [(day, sev, n, run_id) for sev, n in safety.items()],
        )
        db.conn.executemany(
            "INSERT INTO analytics_performance (day, job_name, runs, succeeded, success_rate, p95_duration_s, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(day, r["job_name"], r["runs"], r["succeeded"], r.get("success_rate"), r.get("p95_duration_s"), run_id)
             for r in performance],
        )
    return {"analytics_adherence": len(adherence), "analytics_supply": 1, "analytics_safety": len(safety),
            "analytics_performance": len(performance)}


def record_backup(db: sqlite_utils.Database, *, path: str, manifest_path: str, size_bytes: int, sha256: str,
                  integrity: str, verified: bool, run_id: int | None, created_at: str) -> int:
    """Insert a backups row (autocommits when no transaction is open); returns its id."""
    with _write(db):
        cur = db.execute(
            "INSERT INTO backups (path, manifest_path, size_bytes, sha256, integrity, verified, run_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [path, manifest_path, size_bytes, sha256, integrity, 1 if verified else 0, run_id, created_at],
        )
        return cur.lastrowid


# ------------------------------------------------------------------------------ demo clinic writes


def insert_patient(db: sqlite_utils.Database, *, pseudonym: str, source: str, birth_year: int | None,
                   deceased: bool, timezone: str | None, reminders_opt_out: bool, created_at: str,
                   fhir_id: str | None = None) -> int:
    """Insert a patient (pseudonym and birth year only, never a name or birth date); returns its id."""
    cur = db.execute(
        "INSERT INTO patients (pseudonym, fhir_id, source, birth_year, deceased, timezone, reminders_opt_out,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [pseudonym, fhir_id, source, birth_year, int(deceased), timezone, int(reminders_opt_out), created_at,
         created_at],
    )
    return cur.lastrowid


_MR_COLUMNS = (
    "fhir_id", "patient_id", "status", "rxnorm", "medication_text", "ingredients", "schedule_status", "timing_code",
    "frequency", "period", "period_unit", "times_of_day", "doses_per_day", "dose_quantity", "dose_unit",
    "authored_on", "bounds_start", "bounds_end", "dispense_quantity", "expected_supply_days", "repeats_allowed",
    "prescriber_ref", "created_at", "updated_at", "dose_plan", "not_to_give", "inactive_since",
)


def insert_medication_request(db: sqlite_utils.Database, **fields: Any) -> int:
    """Insert a medication request; keyword names are the table's columns (lists are JSON-encoded); returns id.

    Raises TypeError for an unknown column name.
    """
    unknown = set(fields) - set(_MR_COLUMNS)
    if unknown:
        raise TypeError(f"unknown medication_requests column(s): {', '.join(sorted(unknown))}")
    values = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in fields.items()}
    cols = list(values)
    cur = db.execute(
        f"INSERT INTO medication_requests ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [values[c] for c in cols],
    )
    return cur.lastrowid


def set_repeats_allowed(db: sqlite_utils.Database, medication_request_id: int, repeats_allowed: int | None) -> None:
    """Set an order's numberOfRepeatsAllowed (refills in addition to the first fill)."""
    db.execute("UPDATE medication_requests SET repeats_allowed = ? WHERE id = ?", [repeats_allowed, medication_request_id])


def insert_dispense(db: sqlite_utils.Database, *, medication_request_id: int, patient_id: int, quantity: float,
                    days_supply: float | None, handed_over_at: str, created_at: str,
                    fhir_id: str | None = None) -> int:
    """Insert a dispense (a fill handed over at a UTC instant); returns its id."""
    cur = db.execute(
        "INSERT INTO dispenses (fhir_id, medication_request_id, patient_id, quantity, days_supply, handed_over_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [fhir_id, medication_request_id, patient_id, quantity, days_supply, handed_over_at, created_at],
    )
    return cur.lastrowid


def insert_supply_count(db: sqlite_utils.Database, *, medication_request_id: int, quantity: float, counted_at: str,
                        source: str = "staff", unit: str | None = None) -> int:
    """Insert a supply count (units on hand at a UTC instant; source staff | demo | dispense; ``unit`` the canonical
    unit counted in, ``clinical.supply.unit_name``, None when not known); returns its id."""
    cur = db.execute(
        "INSERT INTO supply_counts (medication_request_id, quantity, counted_at, source, unit) VALUES (?, ?, ?, ?, ?)",
        [medication_request_id, quantity, counted_at, source, unit],
    )
    return cur.lastrowid


def latest_supply_count(db: sqlite_utils.Database, medication_request_id: int) -> dict[str, Any] | None:
    """The latest count of one order ``{quantity, counted_at, unit}`` (units, UTC text, canonical unit or None), or
    None when it has none."""
    rows = _rows(db.execute(
        "SELECT quantity, counted_at, unit FROM supply_counts WHERE medication_request_id = ?"
        " ORDER BY counted_at DESC, id DESC LIMIT 1", [medication_request_id]))
    return rows[0] if rows else None


def clear_clinic_data(db: sqlite_utils.Database) -> dict[str, int]:
    """Delete all patient data (the tables of CLINIC_TABLES_CHILD_FIRST) in the caller's transaction.

    Notifications about patients or orders go; the engine's own alerts (no patient, no order) stay, as do
    users, jobs, runs, backups, the audit log and analytics of run performance. Returns rows deleted per table.
    """
    out: dict[str, int] = {}
    for table in CLINIC_TABLES_CHILD_FIRST:
        if table == "notifications":
            sql = "DELETE FROM notifications WHERE patient_id IS NOT NULL OR medication_request_id IS NOT NULL"
        else:
            sql = f"DELETE FROM {table}"
        out[table] = db.execute(sql).rowcount
    return out


# ------------------------------------------------------------------------------- console reads


def list_notifications(db: sqlite_utils.Database, *, kind: str | None = None, audience: str | None = None,
                       status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Newest notifications first, optionally filtered by kind, audience and status.

    Each dict: id, created_at, kind, audience, patient (pseudonym or None), medication_request_id, due_at,
    message, status, run_id, idempotency_key.
    """
    where, params = [], []
    for col, val in (("n.kind", kind), ("n.audience", audience), ("n.status", status)):
        if val is not None:
            where.append(f"{col} = ?")
            params.append(val)
    sql = ("SELECT n.id, n.created_at, n.kind, n.audience, p.pseudonym AS patient, n.medication_request_id,"
           " n.due_at, n.message, n.status, n.run_id, n.idempotency_key"
           " FROM notifications n LEFT JOIN patients p ON p.id = n.patient_id")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY n.id DESC LIMIT ?"
    return _rows(db.execute(sql, params + [limit]))


def notification_counts(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """Outbox size by kind and status: ``{kind: {status: n}}``."""
    out: dict[str, dict[str, int]] = {}
    for kind, status, n in db.execute("SELECT kind, status, count(*) FROM notifications GROUP BY kind, status"):
        out.setdefault(kind, {})[status] = n
    return out


def list_interaction_alerts(db: sqlite_utils.Database, *, open_only: bool = True,
                            limit: int = 200) -> list[dict[str, Any]]:
    """Interaction alerts, newest first, with the patient's pseudonym; ``open_only`` hides acknowledged and
    superseded ones (superseded: the patient's medication list changed after the alert)."""
    sql = ("SELECT a.id, p.pseudonym AS patient, a.rule_id, a.drug_a, a.drug_b, a.severity, a.source,"
           " a.medication_request_ids, a.acknowledged_at, a.acknowledged_by, a.superseded_at, a.created_at, a.run_id"
           " FROM interaction_alerts a JOIN patients p ON p.id = a.patient_id")
    if open_only:
        sql += " WHERE a.acknowledged_at IS NULL AND a.superseded_at IS NULL"
    sql += " ORDER BY a.id DESC LIMIT ?"
    rows = _rows(db.execute(sql, [limit]))
    for r in rows:
        r["medication_request_ids"] = json.loads(r["medication_request_ids"])
    return rows


def acknowledge_interaction_alert(db: sqlite_utils.Database, alert_id: int, at: str, by: str | None = None) -> bool:
    """Mark an open alert acknowledged at ``at`` (UTC text) by user ``by``; False if no such open alert
    (unknown, already acknowledged, or superseded)."""
    with _write(db):
        cur = db.execute("UPDATE interaction_alerts SET acknowledged_at = ?, acknowledged_by = ?"
                         " WHERE id = ? AND acknowledged_at IS NULL AND superseded_at IS NULL", [at, by, alert_id])
        return cur.rowcount == 1


def list_supply_status(db: sqlite_utils.Database, *, status: str | None = None) -> list[dict[str, Any]]:
    """supply_status rows with the patient's pseudonym, most urgent first (critical, low, ok, unknown)."""
    sql = ("SELECT s.medication_request_id, p.pseudonym AS patient, s.current_supply, s.daily_usage,"
           " s.days_remaining, s.status, s.refills_left, s.computed_at, s.run_id"
           " FROM supply_status s JOIN patients p ON p.id = s.patient_id")
    params: list[Any] = []
    if status is not None:
        sql += " WHERE s.status = ?"
        params.append(status)
    sql += (" ORDER BY CASE s.status WHEN 'critical' THEN 0 WHEN 'low' THEN 1 WHEN 'ok' THEN 2 ELSE 3 END,"
            " s.days_remaining, s.medication_request_id")
    return _rows(db.execute(sql, params))


def backup_of_run(db: sqlite_utils.Database, run_id: int) -> dict[str, Any] | None:
    """The newest backups row made by run ``run_id``, or None."""
    rows = _rows(db.execute("SELECT * FROM backups WHERE run_id = ? ORDER BY id DESC LIMIT 1", [run_id]))
    return rows[0] if rows else None


def backup_paths_of_run(db: sqlite_utils.Database, run_id: int) -> set[str]:
    """The paths of every backups row made by run ``run_id`` (verified or not)."""
    return {r[0] for r in db.execute("SELECT path FROM backups WHERE run_id = ?", [run_id])}


def list_backups(db: sqlite_utils.Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest backups rows (path, manifest_path, size_bytes, sha256, integrity, verified, run_id, created_at)."""
    return _rows(db.execute("SELECT * FROM backups ORDER BY id DESC LIMIT ?", [limit]))


def analytics_day(db: sqlite_utils.Database, day: str) -> dict[str, Any]:
    """The analytics rows of ``day`` (YYYY-MM-DD).

    Returns ``{adherence: [rows], supply: {critical, low, ok, unknown} | None, safety: {severity: n},
    performance: [rows]}``.
    """
    supply = _rows(db.execute("SELECT critical, low, ok, unknown FROM analytics_supply WHERE day = ?", [day]))
    return {
        "adherence": _rows(db.execute(
            "SELECT medication_request_id, patient_id, doses_scheduled, doses_taken, adherence_pct, pdc_pct"
            " FROM analytics_adherence WHERE day = ? ORDER BY medication_request_id", [day])),
        "supply": supply[0] if supply else None,
        "safety": {s: n for s, n in db.execute("SELECT severity, alerts FROM analytics_safety WHERE day = ?", [day])},
        "performance": _rows(db.execute(
            "SELECT job_name, runs, succeeded, success_rate, p95_duration_s FROM analytics_performance"
            " WHERE day = ? ORDER BY job_name", [day])),
    }
