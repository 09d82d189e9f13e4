"""The SQLite schema of the store, as ordered migrations; ``schema_version`` records which have run.

Conventions: every instant is UTC ISO 8601 text (``2026-11-29T14:00:00+00:00``); local clock times are
``HH:MM`` text beside the IANA zone they belong to; booleans are 0/1; JSON lists and objects are text.
Patients carry no names, contacts or birth dates: only a pseudonym (``P-00001``), the birth year and the
FHIR id used to keep imports idempotent.
"""

from __future__ import annotations

from typing import Any, Callable


def _evidence_chain_without_foreign_key(db: Any) -> None:
    """Migration 32: rebuild ``evidence_chain`` without its foreign key to ``runs``, keeping every link (same
    ``seq``, same values) and its index. Pruning removes runs whose links stay (the chain is append-only);
    with the key it had to delete with foreign keys off. A store that has no ``evidence_chain`` yet (its
    migration 90 comes after this one) or has it without the key is left as it is."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence_chain'").fetchone():
        return
    if not db.execute("SELECT count(*) FROM pragma_foreign_key_list('evidence_chain')").fetchone()[0]:
        return
    for statement in (
        "CREATE TABLE evidence_chain_rebuilt (seq INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, path TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, prev_sha256 TEXT, written_at TEXT NOT NULL)",
        "INSERT INTO evidence_chain_rebuilt (seq, run_id, path, sha256, prev_sha256, written_at)"
        " SELECT seq, run_id, path, sha256, prev_sha256, written_at FROM evidence_chain ORDER BY seq",
        "DROP TABLE evidence_chain",
        "ALTER TABLE evidence_chain_rebuilt RENAME TO evidence_chain",
        "CREATE INDEX ix_evidence_chain_run ON evidence_chain(run_id, seq)",
    ):
        db.execute(statement)


MIGRATIONS: list[tuple[int, str, str | Callable[[Any], None]]] = [
    (
        1,
        "initial schema",
        """
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    pseudonym TEXT NOT NULL UNIQUE,
    fhir_id TEXT UNIQUE,
    source TEXT NOT NULL,                     -- 'fhir' | 'demo'
    birth_year INTEGER,
    deceased INTEGER NOT NULL DEFAULT 0,
    timezone TEXT,                            -- IANA zone; NULL means the clinic's zone
    reminders_opt_out INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE medication_requests (
    id INTEGER PRIMARY KEY,
    fhir_id TEXT UNIQUE,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    status TEXT NOT NULL,                     -- FHIR MedicationRequest.status
    rxnorm TEXT,
    medication_text TEXT NOT NULL,
    ingredients TEXT NOT NULL DEFAULT '[]',   -- JSON list of lower-case ingredient names
    schedule_status TEXT NOT NULL,            -- scheduled | prn | no_schedule | inactive | deceased
    timing_code TEXT,                         -- QD, BID, ... (key of the clinic's administration-time table)
    frequency REAL,
    period REAL,
    period_unit TEXT,
    times_of_day TEXT NOT NULL DEFAULT '[]',  -- JSON list of local 'HH:MM'
    doses_per_day REAL,
    dose_quantity REAL,
    dose_unit TEXT,
    authored_on TEXT,
    bounds_start TEXT,
    bounds_end TEXT,
    dispense_quantity REAL,                   -- units per fill
    expected_supply_days REAL,                -- days per fill as stated
    repeats_allowed INTEGER,                  -- refills in addition to the first fill
    prescriber_ref TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_mr_patient ON medication_requests(patient_id);
CREATE INDEX ix_mr_status ON medication_requests(status, schedule_status);

CREATE TABLE dispenses (
    id INTEGER PRIMARY KEY,
    fhir_id TEXT UNIQUE,
    medication_request_id INTEGER REFERENCES medication_requests(id),
    patient_id INTEGER REFERENCES patients(id),
    quantity REAL,
    days_supply REAL,
    handed_over_at TEXT,                      -- UTC
    created_at TEXT NOT NULL
);
CREATE INDEX ix_dispenses_mr ON dispenses(medication_request_id);

CREATE TABLE supply_counts (
    id INTEGER PRIMARY KEY,
    medication_request_id INTEGER NOT NULL REFERENCES medication_requests(id),
    quantity REAL NOT NULL,                   -- units on hand at counted_at
    counted_at TEXT NOT NULL,                 -- UTC
    source TEXT NOT NULL                      -- 'staff' | 'demo' | 'dispense'
);
CREATE INDEX ix_supply_counts_mr ON supply_counts(medication_request_id, counted_at);

CREATE TABLE dose_log (
    id INTEGER PRIMARY KEY,
    medication_request_id INTEGER NOT NULL REFERENCES medication_requests(id),
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    dose_instant TEXT NOT NULL,               -- UTC instant the dose was scheduled for
    status TEXT NOT NULL,                     -- taken | missed | reminder_missed
    recorded_at TEXT NOT NULL,
    UNIQUE (medication_request_id, dose_instant)
);
CREATE INDEX ix_dose_log_instant ON dose_log(dose_instant);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,                       -- dose_reminder | refill_due | renewal_needed | interaction_alert | supply_critical | reminder_missed | job_failed
    audience TEXT NOT NULL,                   -- patient | prescriber | staff
    patient_id INTEGER REFERENCES patients(id),
    medication_request_id INTEGER REFERENCES medication_requests(id),
    due_at TEXT,                              -- UTC
    message TEXT NOT NULL,                    -- template text; no names or identifiers
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    run_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_notifications_created ON notifications(created_at);

CREATE TABLE interaction_alerts (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    rule_id TEXT NOT NULL,
    drug_a TEXT NOT NULL,
    drug_b TEXT NOT NULL,
    severity TEXT NOT NULL,                   -- contraindicated | major | moderate | minor
    source TEXT NOT NULL,
    medication_request_ids TEXT NOT NULL,     -- JSON [a, b]
    med_list_hash TEXT NOT NULL,              -- the patient's active list when alerted
    acknowledged_at TEXT,
    run_id INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (patient_id, rule_id, drug_a, drug_b, med_list_hash)
);

CREATE TABLE supply_status (
    medication_request_id INTEGER PRIMARY KEY REFERENCES medication_requests(id),
    patient_id INTEGER NOT NULL,
    current_supply REAL,                      -- units; NULL = unknown
    daily_usage REAL,                         -- units per day
    days_remaining INTEGER,                   -- floor(current_supply / daily_usage); NULL = unknown
    status TEXT NOT NULL,                     -- ok | low | critical | unknown
    refills_left INTEGER,
    computed_at TEXT NOT NULL,
    run_id INTEGER
);

CREATE TABLE analytics_adherence (
    day TEXT NOT NULL,                        -- clinic-local date YYYY-MM-DD
    medication_request_id INTEGER NOT NULL,
    patient_id INTEGER NOT NULL,
    doses_scheduled INTEGER NOT NULL,
    doses_taken INTEGER NOT NULL,
    adherence_pct REAL,
    pdc_pct REAL,
    run_id INTEGER,
    PRIMARY KEY (day, medication_request_id)
);
CREATE TABLE analytics_supply (
    day TEXT PRIMARY KEY,
    critical INTEGER NOT NULL, low INTEGER NOT NULL, ok INTEGER NOT NULL, unknown INTEGER NOT NULL,
    run_id INTEGER
);
CREATE TABLE analytics_safety (
    day TEXT NOT NULL, severity TEXT NOT NULL, alerts INTEGER NOT NULL, run_id INTEGER,
    PRIMARY KEY (day, severity)
);
CREATE TABLE analytics_performance (
    day TEXT NOT NULL, job_name TEXT NOT NULL,
    runs INTEGER NOT NULL, succeeded INTEGER NOT NULL, success_rate REAL,
    p95_duration_s REAL, run_id INTEGER,
    PRIMARY KEY (day, job_name)
);

CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    manifest_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    integrity TEXT NOT NULL,                  -- result of PRAGMA integrity_check on the copy
    verified INTEGER NOT NULL,
    run_id INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,                       -- admin | operator | reviewer | auditor
    created_at TEXT NOT NULL
);

CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    job_type TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    changed_by TEXT,
    changed_at TEXT
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    job_name TEXT NOT NULL,
    job_type TEXT NOT NULL,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,                -- 3 critical .. 0 low; claimed highest first
    status TEXT NOT NULL,                     -- queued | running | succeeded | failed | timed_out | interrupted | dead | cancelled | skipped
    attempt INTEGER NOT NULL DEFAULT 1,
    max_attempts INTEGER NOT NULL,
    trigger TEXT NOT NULL,                    -- schedule | manual | once
    dedupe_key TEXT UNIQUE,                   -- job + scheduled instant for ticks: a tick is queued once
    scheduled_at TEXT NOT NULL,               -- UTC: when the run was due
    available_at TEXT NOT NULL,               -- UTC: not claimed before (backoff)
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    error TEXT,                               -- masked text: no patient data
    summary TEXT,                             -- JSON of the handler's summary
    evidence_path TEXT,                       -- relative to the evidence root
    evidence_sha256 TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_runs_claim ON runs(status, queue, priority DESC, scheduled_at, id);
CREATE INDEX ix_runs_job ON runs(job_name, id);

CREATE TABLE run_attempts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_s REAL,
    outcome TEXT,                             -- succeeded | failed | timed_out | interrupted
    error TEXT,
    UNIQUE (run_id, attempt)
);

CREATE TABLE run_history (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT
);
CREATE INDEX ix_run_history_run ON run_history(run_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,                    -- ok | denied | error
    detail TEXT,                              -- JSON; no patient data
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
""",
    ),
    (
        2,
        "runner leases (which runner holds a running run, its heartbeat); error details behind references",
        """
CREATE TABLE runners (
    id TEXT PRIMARY KEY,                      -- host:pid:random
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL                -- UTC; a runner silent past the lease has died
);
ALTER TABLE runs ADD COLUMN claimed_by TEXT;  -- runners.id holding the run while it is running

CREATE TABLE error_details (
    ref TEXT PRIMARY KEY,                     -- the reference shown to users (E-3F9A1C)
    run_id INTEGER,
    at TEXT NOT NULL,
    detail TEXT NOT NULL                      -- traceback: may hold patient data; admins only (encrypted with the security issue)
);
""",
    ),
    (
        20,
        "sign-in: password hashes, enabled flag, review role and lockout state of users; login sessions; "
        "security notices for the next admin sign-in",
        """
ALTER TABLE users ADD COLUMN password_hash TEXT;           -- Argon2id PHC string; NULL: cannot sign in
ALTER TABLE users ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN review_role TEXT;             -- reviewers: technical lead | security officer | compliance officer | project manager
ALTER TABLE users ADD COLUMN failed_signins INTEGER NOT NULL DEFAULT 0;   -- consecutive failures
ALTER TABLE users ADD COLUMN locked_until TEXT;            -- UTC; sign-in refused before this instant
ALTER TABLE users ADD COLUMN last_signin_at TEXT;          -- UTC
ALTER TABLE users ADD COLUMN password_changed_at TEXT;     -- UTC
ALTER TABLE users ADD COLUMN updated_at TEXT;              -- UTC

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,              -- SHA-256 of the token kept in the user's 0600 session file
    username TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL                -- UTC; the session ends security.idle_timeout after this
);

CREATE TABLE security_notices (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                         -- UTC
    kind TEXT NOT NULL,                       -- recovery
    message TEXT NOT NULL,                    -- no patient data
    shown_to TEXT,                            -- the admin who was shown it at sign-in
    shown_at TEXT
);
""",
    ),
    (
        21,
        "sign-in failures of names that are no user, keyed by a keyed hash of the name (never the name itself)",
        """
CREATE TABLE signin_failures (
    name_key TEXT PRIMARY KEY,                -- HMAC-SHA256 of the name under the audit key (security/auth.py)
    failures INTEGER NOT NULL,                -- consecutive failures, as users.failed_signins
    locked_until TEXT,                        -- UTC; sign-in refused before this instant, as users.locked_until
    last_failure_at TEXT NOT NULL             -- UTC; the oldest rows go first when the table is full
);
CREATE INDEX ix_signin_failures_last ON signin_failures(last_failure_at);
""",
    ),
    (
        25,
        "backup retention: when a backup's files were removed by the retention rule",
        """
ALTER TABLE backups ADD COLUMN removed_at TEXT;  -- UTC; NULL while the file is kept
""",
    ),
    (
        30,
        "schedule watermark: the latest fire time of each job already recorded (missed ticks are found from it)",
        """
ALTER TABLE jobs ADD COLUMN ticks_seen_until TEXT;  -- UTC: every fire time up to here has its row (or a catch-up)
CREATE INDEX ix_runs_job_status ON runs(job_name, status);
""",
    ),
    (
        31,
        "daily metrics of pruned runs: finished runs past the retention are folded in here, then removed",
        """
CREATE TABLE run_metrics_daily (
    day TEXT NOT NULL,                        -- UTC date (YYYY-MM-DD) the runs finished on
    job_name TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,          -- finished runs (succeeded or dead)
    succeeded_runs INTEGER NOT NULL DEFAULT 0,
    dead_runs INTEGER NOT NULL DEFAULT 0,
    other_rows INTEGER NOT NULL DEFAULT 0,    -- skipped, coalesced and cancelled rows removed (never run)
    attempts INTEGER NOT NULL DEFAULT 0,      -- finished attempts (interrupted ones included)
    succeeded_attempts INTEGER NOT NULL DEFAULT 0,
    error_attempts INTEGER NOT NULL DEFAULT 0,   -- failed, timed out or crashed
    retries INTEGER NOT NULL DEFAULT 0,       -- attempts after the first
    timeouts INTEGER NOT NULL DEFAULT 0,
    duration_sum_s REAL NOT NULL DEFAULT 0,   -- of the attempts with a duration
    duration_count INTEGER NOT NULL DEFAULT 0,
    duration_max_s REAL,
    invalid_evidence INTEGER NOT NULL DEFAULT 0,  -- finished runs whose evidence did not match when folded
    PRIMARY KEY (day, job_name)
);
""",
    ),
    (
        32,
        "evidence chain without a foreign key to runs: pruned runs keep their links (Python: a table rebuild, "
        "only where migration 90 made the key)",
        _evidence_chain_without_foreign_key,
    ),
    (
        33,
        "engine: claim batches (short runs claimed together and run one after another in one queue slot)",
        """
-- the id of the first run of the claim batch this run was claimed in (NULL: claimed alone). A queue's
-- concurrency counts slots (running runs of distinct batches), not runs: see store.runs.claim_batch
ALTER TABLE runs ADD COLUMN claim_batch INTEGER;
""",
    ),
    (
        50,
        "notification delivery: one row per notification and channel (in-app inbox and configured channels)",
        """
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications(id),
    channel TEXT NOT NULL,                    -- 'inbox' (the in-app Notifications tab) or a channel of config.yaml
    status TEXT NOT NULL,                     -- pending | sending | sent | failed | unconfirmed | expired
    attempts INTEGER NOT NULL DEFAULT 0,      -- sends started (each claim counts one)
    next_attempt_at TEXT NOT NULL,            -- UTC: not claimed before (the due time, then the backoff)
    claimed_by TEXT,                          -- deliverer id (host:pid:random) of the send in progress
    claimed_at TEXT,                          -- UTC
    sent_at TEXT,                             -- UTC
    error TEXT,                               -- masked reason: channel, scheme, category; never a URL or patient data
    updated_at TEXT NOT NULL,
    UNIQUE (notification_id, channel)
);
CREATE INDEX ix_deliveries_due ON notification_deliveries(status, next_attempt_at);
CREATE INDEX ix_notifications_status ON notifications(status, id);
""",
    ),
    (
        51,
        "notification delivery: a patient's or prescriber's notification that reached only the in-app inbox reads "
        "inbox_only, not sent",
        """
-- store.outbox._refresh_status says so from now on; notifications delivered before it read 'sent'
UPDATE notifications SET status = 'inbox_only'
 WHERE status = 'sent' AND audience IN ('patient', 'prescriber')
   AND EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = notifications.id)
   AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification_id = notifications.id
                   AND d.channel != 'inbox');
""",
    ),
    (
        60,
        "dose plans: every dosageInstruction of an order, placed in time (tapers, weekly, hourly, bounds, count)",
        """
ALTER TABLE medication_requests ADD COLUMN dose_plan TEXT;   -- JSON of clinical.dosing.DosePlan; NULL = legacy columns
""",
    ),
    (
        70,
        "dose confirmations: who recorded a dose and when it happened; every entry that stood kept in its history",
        """
ALTER TABLE dose_log ADD COLUMN occurred_at TEXT;   -- UTC: when a confirmed dose was taken/skipped/refused (--at)
ALTER TABLE dose_log ADD COLUMN recorded_by TEXT;   -- user name of a confirmation; NULL for a job's entry

CREATE TABLE dose_log_history (                     -- append-only: every entry that was a dose's status
    id INTEGER PRIMARY KEY,
    dose_log_id INTEGER NOT NULL,
    medication_request_id INTEGER NOT NULL,
    patient_id INTEGER NOT NULL,
    dose_instant TEXT NOT NULL,                     -- UTC instant the dose was scheduled for
    status TEXT NOT NULL,                           -- taken | skipped | refused | missed | reminder_missed
    occurred_at TEXT,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT
);
CREATE INDEX ix_dose_log_history_dose ON dose_log_history(medication_request_id, dose_instant, id);
INSERT INTO dose_log_history (dose_log_id, medication_request_id, patient_id, dose_instant, status, recorded_at)
    SELECT id, medication_request_id, patient_id, dose_instant, status, recorded_at FROM dose_log ORDER BY id;
CREATE TRIGGER dose_log_history_on_insert AFTER INSERT ON dose_log
BEGIN
    INSERT INTO dose_log_history (dose_log_id, medication_request_id, patient_id, dose_instant, status,
                                  occurred_at, recorded_at, recorded_by)
    VALUES (NEW.id, NEW.medication_request_id, NEW.patient_id, NEW.dose_instant, NEW.status, NEW.occurred_at,
            NEW.recorded_at, NEW.recorded_by);
END;
CREATE TRIGGER dose_log_history_on_update AFTER UPDATE ON dose_log
BEGIN
    INSERT INTO dose_log_history (dose_log_id, medication_request_id, patient_id, dose_instant, status,
                                  occurred_at, recorded_at, recorded_by)
    VALUES (NEW.id, NEW.medication_request_id, NEW.patient_id, NEW.dose_instant, NEW.status, NEW.occurred_at,
            NEW.recorded_at, NEW.recorded_by);
END;
CREATE TRIGGER dose_log_history_no_update BEFORE UPDATE ON dose_log_history
BEGIN SELECT RAISE(ABORT, 'dose_log_history is append-only'); END;
""",
    ),
    (
        71,
        "interactions: the clinic's own list; alerts once per patient and drug pair, acknowledged by whom, "
        "superseded when the medication list changes",
        """
CREATE TABLE clinic_interactions (                  -- the clinic's imported list; an import replaces it whole
    id INTEGER PRIMARY KEY,
    drug_a TEXT NOT NULL,                           -- normalised ingredient names
    drug_b TEXT NOT NULL,
    severity TEXT NOT NULL,                         -- contraindicated | major | moderate | minor
    effect TEXT NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,                          -- CSV line of the row
    file_name TEXT NOT NULL,                        -- base name of the imported file
    file_sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL
);
ALTER TABLE interaction_alerts ADD COLUMN pair_key TEXT;         -- 'a|b', the two drugs sorted
ALTER TABLE interaction_alerts ADD COLUMN acknowledged_by TEXT;
ALTER TABLE interaction_alerts ADD COLUMN superseded_at TEXT;    -- UTC: the patient's list changed; closed
UPDATE interaction_alerts SET pair_key = CASE WHEN drug_a <= drug_b THEN drug_a || '|' || drug_b
                                              ELSE drug_b || '|' || drug_a END;
CREATE INDEX ix_interaction_alerts_pair ON interaction_alerts(patient_id, pair_key, med_list_hash);
""",
    ),
    (
        72,
        "reminder preferences per patient (channel, lead time, quiet hours); time-critical orders",
        """
CREATE TABLE patient_preferences (                  -- opt-out stays in patients.reminders_opt_out
    patient_id INTEGER PRIMARY KEY REFERENCES patients(id),
    channel TEXT,                                   -- a configured channel name or 'inbox'; NULL = clinic default
    lead_minutes INTEGER NOT NULL DEFAULT 0,        -- reminder sent this long before the dose
    quiet_start TEXT,                               -- local 'HH:MM'; reminders held until quiet_end
    quiet_end TEXT,
    source TEXT NOT NULL,                           -- 'staff' | 'fhir' (an import never overwrites staff's)
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
ALTER TABLE medication_requests ADD COLUMN time_critical INTEGER NOT NULL DEFAULT 0;  -- never held for quiet hours
""",
    ),
    (
        73,
        "orders: whether a medication request is no order to give (doNotPerform, an intent that is no order), kept "
        "apart from its schedule status (a deceased patient's order reads 'deceased' whatever it was)",
        """
ALTER TABLE medication_requests ADD COLUMN not_to_give INTEGER NOT NULL DEFAULT 0;  -- 1: fhir.mapping.not_to_give
-- an active order imported before this column was inactive only when it was no order to give; an order of a patient
-- since deceased reads 'deceased' and is known again at its next import
UPDATE medication_requests SET not_to_give = 1 WHERE status = 'active' AND schedule_status = 'inactive';
""",
    ),
    (
        74,
        "clinical: the instant a patient died, the instant an order stopped being active, the unit of a supply count",
        """
ALTER TABLE patients ADD COLUMN deceased_at TEXT;                -- UTC; NULL: alive, or deceased at an unknown instant
ALTER TABLE medication_requests ADD COLUMN inactive_since TEXT;  -- UTC: when an import saw it leave 'active'; NULL unknown
ALTER TABLE supply_counts ADD COLUMN unit TEXT;                  -- canonical unit (clinical.supply.unit_name); NULL: older
""",
    ),
    (
        80,
        "dashboard: progress a running run reports; indexes for the overview's per-minute counts and run filters",
        """
ALTER TABLE runs ADD COLUMN progress_done INTEGER;   -- items done so far (patients, pages), as the handler reports
ALTER TABLE runs ADD COLUMN progress_total INTEGER;  -- items in all; NULL when the handler does not know
ALTER TABLE runs ADD COLUMN progress_at TEXT;        -- UTC: when progress was last reported
CREATE INDEX ix_run_attempts_finished ON run_attempts(finished_at);
CREATE INDEX ix_runs_scheduled ON runs(scheduled_at);
""",
    ),
    (
        90,
        "evidence chain: every evidence record written, in order, naming the previous record's SHA-256",
        """
CREATE TABLE evidence_chain (                       -- append-only: one link per record written (a rewrite is a new link)
    seq INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,                        -- outlives its run (pruning); no foreign key (see 32)
    path TEXT NOT NULL,                             -- relative to the evidence root
    sha256 TEXT NOT NULL,                           -- of the record's bytes
    prev_sha256 TEXT,                               -- the previous link's sha256 (NULL for the first)
    written_at TEXT NOT NULL                        -- UTC
);
CREATE INDEX ix_evidence_chain_run ON evidence_chain(run_id, seq);
INSERT INTO evidence_chain (run_id, path, sha256, prev_sha256, written_at)
SELECT id, evidence_path, evidence_sha256, LAG(evidence_sha256) OVER (ORDER BY id), COALESCE(finished_at, created_at)
FROM runs WHERE evidence_path IS NOT NULL AND evidence_sha256 IS NOT NULL ORDER BY id;
""",
    ),
    (
        91,
        "sign-off: electronic signatures of the checklist items (append-only), bound to a validation baseline; "
        "users' printed names",
        """
CREATE TABLE signoff_signatures (                   -- append-only: a revocation is a new row, never an edit
    id INTEGER PRIMARY KEY,                         -- given by the writer (the MAC covers it)
    item TEXT NOT NULL,                             -- '<checklist>.<item>' of config.yaml signoff
    kind TEXT NOT NULL,                             -- sign | revoke
    revokes INTEGER REFERENCES signoff_signatures(id),  -- for revoke: the signature it revokes
    user_id INTEGER NOT NULL,
    username TEXT NOT NULL,
    printed_name TEXT NOT NULL,                     -- the signer's full name when signed (21 CFR 11.50(a)(1))
    review_role TEXT NOT NULL,
    meaning TEXT NOT NULL,                          -- reviewed | approved | responsible | revoked
    comment TEXT,                                   -- the signer's own words (never logged)
    signed_at TEXT NOT NULL,                        -- UTC
    components TEXT NOT NULL,                       -- 'user name + password' | 'password' (21 CFR 11.200(a)(1))
    session_hash TEXT,                              -- SHA-256 of the signing session (NULL: a one-off signing)
    config_sha256 TEXT NOT NULL,                    -- baseline: the jobs configuration when signed
    app_version TEXT NOT NULL,                      -- baseline: MedJobs' version
    evidence_head TEXT,                             -- baseline: 'seq:sha256' of the evidence chain's last link
    audit_head_id INTEGER NOT NULL,                 -- baseline: the audit chain's head (id and MAC)
    audit_head_mac TEXT NOT NULL,
    mac TEXT NOT NULL                               -- HMAC-SHA256 under the audit key over every field above
);
CREATE INDEX ix_signoff_item ON signoff_signatures(item, id);
CREATE TRIGGER signoff_signatures_no_update BEFORE UPDATE ON signoff_signatures
BEGIN SELECT RAISE(ABORT, 'signoff_signatures is append-only'); END;
CREATE TRIGGER signoff_signatures_no_delete BEFORE DELETE ON signoff_signatures
BEGIN SELECT RAISE(ABORT, 'signoff_signatures is append-only'); END;
ALTER TABLE users ADD COLUMN full_name TEXT;        -- printed name on signatures; NULL: the user name
""",
    ),
    (
        94,
        "alerts with a life cycle: open -> acknowledged -> resolved, one active alert per kind and scope",
        """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,               -- run_dead | critical_job_failing | schedule_missed | error_rate | supply_critical | interaction_major
    scope TEXT NOT NULL,              -- what it is about: 'job backup', 'run 12', 'order 45 (P-00012)'; ids and pseudonyms only
    job_name TEXT,                    -- the job concerned, if any
    severity TEXT NOT NULL,           -- critical | high | warning
    state TEXT NOT NULL DEFAULT 'open',  -- open | acknowledged | resolved
    summary TEXT NOT NULL,            -- plain words, never patient data
    count INTEGER NOT NULL DEFAULT 1, -- occurrences while active (a repeat bumps it)
    last_ref TEXT,                    -- the occurrence last counted (run attempt, missed tick, local day...)
    first_seen TEXT NOT NULL,         -- UTC
    last_seen TEXT NOT NULL,          -- UTC: when its cause was last observed
    acknowledged_by TEXT,
    acknowledged_at TEXT,             -- UTC
    resolved_at TEXT,                 -- UTC
    resolved_reason TEXT              -- why it cleared, in plain words ('run 12 succeeded on retry')
);
CREATE UNIQUE INDEX ux_alerts_active ON alerts(kind, scope) WHERE state != 'resolved';
CREATE INDEX ix_alerts_state ON alerts(state, last_seen);
""",
    ),
    (
        97,
        "self-test results: the validation exercise run on a scratch copy of the clinic, per check and per job",
        """
CREATE TABLE selftest_results (                     -- append-only: one row per `medjobs selftest`
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,                       -- UTC
    finished_at TEXT NOT NULL,                      -- UTC
    duration_s REAL NOT NULL,                       -- wall seconds of the whole exercise
    passed INTEGER NOT NULL,                        -- 1: every check passed ("Tests passing")
    performance_ok INTEGER NOT NULL,                -- 1: every job finished within its timeout
    security_ok INTEGER NOT NULL,                   -- 1: encryption, access control and audit chain checks passed
    app_version TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,                    -- of the jobs configuration (as sign-off baselines hash it)
    checks TEXT NOT NULL,                           -- JSON list of {name, group, passed, detail}
    durations TEXT NOT NULL,                        -- JSON {job: {status, duration_s, timeout_s}}
    actor TEXT NOT NULL,
    evidence_path TEXT,                             -- relative to the evidence root
    evidence_sha256 TEXT
);
CREATE INDEX ix_selftest_results_finished ON selftest_results(finished_at);
""",
    ),
    (
        100,
        "performance: dose-log reads by instant from the index alone; dispenses by order in fill order",
        """
-- dose_log_between (reminders, analytics) reads (order, instant, status) of a window of instants: covering, so no
-- table row is read (the old index on the instant alone is its prefix, dropped)
CREATE INDEX ix_dose_log_instant_cover ON dose_log(dose_instant, medication_request_id, status);
DROP INDEX IF EXISTS ix_dose_log_instant;
-- dispenses_by_order reads every order's fills oldest first: in index order, no sort (replaces the order-only index)
CREATE INDEX ix_dispenses_mr_handed ON dispenses(medication_request_id, handed_over_at);
DROP INDEX IF EXISTS ix_dispenses_mr;
""",
    ),
    (
        101,
        "performance: runs by finished instant (the analytics roll-up's runs of a day)",
        """
-- runs_finished_between (analytics_rollup: each job's runs that finished in a day) searched every run before
CREATE INDEX ix_runs_finished ON runs(finished_at);
""",
    ),
    (
        102,
        "performance: the finished-instant indexes of runs and attempts hold finished ones only",
        """
-- a queued run (an attempt just claimed) had an entry under NULL: one page more to write (and encrypt) per
-- trigger (per claim). Every reader of these indexes compares finished_at (which implies it is not NULL), so
-- SQLite still uses them
DROP INDEX IF EXISTS ix_runs_finished;
CREATE INDEX ix_runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL;
DROP INDEX IF EXISTS ix_run_attempts_finished;
CREATE INDEX ix_run_attempts_finished ON run_attempts(finished_at) WHERE finished_at IS NOT NULL;
""",
    ),
]
"""(version, description, SQL script or a function of the store, run inside the migration's transaction),
applied in ascending version order. Never edit a shipped migration:
add a new one. Numbers are allotted in ranges per line of work so parallel branches never collide:
security 10-29, engine 30-49, notification delivery 50-59, clinical 60-79, dashboard 80-89,
validation 90-99, performance 100-109. ``migrate`` applies any missing version, not only the highest."""
