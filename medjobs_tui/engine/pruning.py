"""Pruning: finished runs older than the retention are folded into daily metrics and removed; evidence stays.

Like Oban's Pruner: the run table keeps ``runner.retention_days`` (default 90) days of finished runs
(succeeded, dead, cancelled, skipped, coalesced); older ones leave their counts in
``run_metrics_daily`` (per UTC day and job) and go, with their attempts, history and error details.
Their evidence files stay on disk: they are the record. Metrics add the folded counts to the live ones
(``engine.metrics``), so run counts, rates, retries, timeouts and evidence validity cover all history.
The runner prunes at start and every PRUNE_EVERY_S.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from medjobs_tui.config import Settings
from medjobs_tui.engine.evidence import is_valid
from medjobs_tui.store import pruning as store_pruning

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600
"""How often (real seconds) a running runner prunes."""
BATCH = 500
"""Runs folded per transaction, so the runner's other writes never wait long behind pruning."""


def prune(db, settings: Settings, now: datetime) -> int:
    """Fold and remove every finished run that finished more than ``retention_days`` before ``now`` (UTC);
    return how many were removed. Logs one line when it removed any."""
    before = now - timedelta(days=settings.runner.retention_days)
    evidence_dir = settings.evidence_dir
    total = 0
    while True:
        n = store_pruning.prune_batch(db, before, lambda path, sha: is_valid(evidence_dir, path, sha), BATCH)
        total += n
        if n < BATCH:
            break
    if total:
        log.info("pruned %d finished run(s) older than %d days into daily metrics (evidence files kept)",
                 total, settings.runner.retention_days)
    return total
