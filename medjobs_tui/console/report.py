"""The validation report (``medjobs report``): the clinic's validation document of ../shared/VALIDATION.md,
filled from live state.

A box is ticked only when the system's own records show the item holds, and every item says which
records it was judged on. Evidence blocks are YAML in VALIDATION.md's shapes, taken from the latest
runs. No patient data: orders by id, counts, pseudonymous ids only. The document ends with the audit
head and the SHA-256 of everything above that last line (``verify_report_sha`` recomputes it).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from medjobs_tui import __version__
from medjobs_tui.clinical.supply import shown_days
from medjobs_tui.config import JOB_TYPES
from medjobs_tui.security import audit
from medjobs_tui.notify.alerts import PATIENT_KINDS, PSEUDONYM_PART, alert_label, kind_words as alert_kind_words
from medjobs_tui.store import alerts as store_alerts
from medjobs_tui.store import key_opens
from medjobs_tui.store import validation as store_validation

if TYPE_CHECKING:
    from medjobs_tui.console.operations import Console

REVIEW_DAYS = 30
"""The review period, in days before the report's instant: retries, timeouts and recoveries must fall in it."""

SHA_LINE = "Report SHA-256 (of every line above this one): "

JOB_TYPE_WORDS = {
    "medication_reminder": "medication reminder", "refill_check": "refill check",
    "interaction_check": "interaction check", "supply_monitor": "supply monitor",
    "analytics_rollup": "analytics roll-up", "backup": "backup",
}

SIGN_OFF = {
    "Technical Review": ["Code review completed", "Tests passing", "Performance verified", "Security validated"],
    "Compliance Review": ["HIPAA compliance verified", "Data protection validated", "Audit requirements met",
                          "Documentation complete"],
    "Final Approval": ["Technical lead", "Security officer", "Compliance officer", "Project manager"],
}
"""VALIDATION.md section 6: the checklists people sign (the defaults of config.yaml ``signoff``; section 6 of the
report lists the configured ones with their signatures)."""


@dataclass(frozen=True)
class Check:
    """One requirement: whether it holds now and the records it was judged on (plain words, no patient data)."""

    name: str
    holds: bool
    basis: str


def _yaml(doc: dict[str, Any]) -> str:
    """A one-key document in block style, its innermost mappings inline (as VALIDATION.md writes them)."""
    (key, inner), = doc.items()
    lines = [yaml.safe_dump({k: v}, sort_keys=False, default_flow_style=isinstance(v, (dict, list)) or None,
                            allow_unicode=True, width=1000).strip().removeprefix("{").removesuffix("}")
             if isinstance(v, (dict, list)) else
             yaml.safe_dump({k: v}, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000).strip()
             for k, v in inner.items()]
    return f"{key}:\n" + "\n".join(f"  {line}" for item in lines for line in item.splitlines())


def _num(value: float) -> float | int:
    """A whole number of seconds as an int (300, not 300.0)."""
    return int(value) if float(value).is_integer() else value


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def facts(console: Console) -> dict[str, Any]:
    """Everything the report states, from live state at the console's clock: ``now``, ``jobs`` (name -> config,
    metrics, validation), ``checks`` (three lists of Check), ``supply``, ``analytics``, ``backup``, ``audit``.
    Tests compare these figures with the console's own views."""
    db, settings = console.db, console.settings
    now = console.clock.now()
    since = now - timedelta(days=REVIEW_DAYS)
    metrics = {m.job_name: m for m in console.metrics()}
    validation = {v.job_name: v for v in console.validation()}
    verdict = audit.verify(db, console.keys.audit, audit.find_checkpoints(settings.backups_dir, settings.evidence_dir))
    attempts = store_validation.attempts_since(db, since)

    def evidenced(a: dict[str, Any]) -> bool:
        return bool(a["evidence_path"]) and a["run_id"] not in chain_bad

    chain = validation_chain(console)
    chain_bad = set(chain.run_problems)
    retried = [a for a in attempts if a["attempt"] > 1 and evidenced(a)]
    timed_out = [a for a in attempts if a["outcome"] == "timed_out" and evidenced(a)]
    recovered = {a["run_id"] for a in attempts if a["outcome"] in ("failed", "timed_out", "crashed", "interrupted")
                 and a["run_status"] == "succeeded" and evidenced(a)}
    priorities = {a["priority"] for a in attempts}
    queues_ok = all(settings.jobs[a["job_name"]].queue_name == a["queue"] for a in attempts
                    if a["job_name"] in settings.jobs)
    queues = {a["queue"] for a in attempts}
    errors = [a["error"] for a in attempts if a["error"]]
    masked = all(_is_masked(e) for e in errors)
    wrong_key = hashlib.sha256(b"not the store key" + console.keys.store).digest()
    encrypted = key_opens(settings.database_path, console.keys.store) and not key_opens(settings.database_path, wrong_key)
    denied = store_validation.access_refusals_since(db, since)
    n_records = sum(1 for _ in store_validation.chain_links(db))
    signoff = console.signoff_state()
    all_valid = all(v.is_valid for v in validation.values())
    critical = [v for v in validation.values() if v.critical_path]

    critical_checks = [
        Check("Maintains a single source of truth", True,
              f"one config file ({settings.source.name if settings.source else 'config.yaml'}, SHA-256 "
              f"{_file_sha(settings.source)[:16]}…) defines all {len(settings.jobs)} jobs; one encrypted store"),
        Check("Follows validation processes", all_valid,
              f"{sum(v.is_valid for v in validation.values())} of {len(validation)} jobs valid now"
              + (f"; critical-path jobs: {', '.join(f'{v.job_name} {v.status}' for v in critical)}" if critical else "")),
        Check("Integrates with monitoring", all(j.monitoring_config.metrics_enabled for j in settings.jobs.values()),
              "metrics enabled for every job; Prometheus exposition via `medjobs metrics --format prometheus`"
              + (f"; textfile {settings.metrics_textfile_path.name} rewritten every minute"
                 if settings.metrics_textfile_path else "; no textfile configured")),
        Check("Collects evidence", n_records > 0 and not chain.chain_problems and not chain_bad,
              f"{n_records} evidence record(s) written in the chain; "
              + (chain.chain_problems[0] if chain.chain_problems else
                 (f"{len(chain_bad)} record(s) with problems" if chain_bad else "chain intact"))),
        _documentation_check(signoff, zone=settings.zone),
    ]
    job_checks = [
        Check("Priority-based execution", len(priorities) >= 2,
              f"attempts of {len(priorities)} priority level(s) recorded in the last {REVIEW_DAYS} days"),
        Check("Type-based routing", bool(attempts) and queues_ok,
              f"{len(attempts)} attempt(s) on {len(queues)} queue(s), each on its job type's configured queue"
              if queues_ok else "an attempt ran on a queue its job is not configured for"),
        Check("Retry policies", bool(retried), f"{len(retried)} retried attempt(s) recorded and evidenced in the last "
              f"{REVIEW_DAYS} days"),
        Check("Timeout handling", bool(timed_out), f"{len(timed_out)} timed-out attempt(s) recorded and evidenced in "
              f"the last {REVIEW_DAYS} days"),
        Check("Error recovery", bool(recovered), f"{len(recovered)} run(s) that failed, timed out, crashed or were "
              f"interrupted and then succeeded, evidenced, in the last {REVIEW_DAYS} days"),
    ]
    security_checks = [
        Check("Data encryption", encrypted, "the store opens with its key and refuses another key (SQLCipher)"
              if encrypted else "the store did not refuse a wrong key, or does not open with its own"),
        Check("Access control", denied > 0, f"{denied} refusal(s) of access audited in the last {REVIEW_DAYS} days; "
              "every operation checks the signed-in user's role"),
        Check("Audit logging", verdict.ok, verdict.line()),
        Check("Error masking", masked, f"{len(errors)} recorded error text(s), "
              + ("each a fixed text with an error reference" if masked else "some not in the masked form")),
    ]
    security_checks.append(Check("HIPAA compliance", all(c.holds for c in security_checks),
                                 "holds when encryption, access control, audit logging and error masking all hold"))
    from medjobs_tui.console.selftest import SIGN_OFF_ITEMS, standing

    backed = standing(console, now, REVIEW_DAYS)
    selftest_checks = [Check(item, *backed[group]) for item, group in SIGN_OFF_ITEMS.items()]
    return {
        "now": now, "zone": settings.zone, "clinic": settings.clinic.name, "version": __version__,
        "jobs": {name: {"config": job, "metrics": metrics[name], "validation": validation[name]}
                 for name, job in settings.jobs.items()},
        "checks": {"Critical path alignment": critical_checks, "Job management": job_checks,
                   "Security": security_checks},
        "supply": store_validation.supply_rows(db), "supply_counts": store_validation.supply_counts(db),
        "analytics": store_validation.latest_run(db, "analytics_rollup"),
        "backup": store_validation.latest_backup(db), "audit": verdict, "signoff": signoff,
        "selftest": selftest_checks, "open_alerts": store_alerts.listing(db, ("open",)),
    }


def _documentation_check(signoff, zone) -> Check:
    """"Updates documentation" holds when the sign-off item ``documentation_complete`` is signed (in force,
    intact, not stale): a person has confirmed the documentation matches the system as configured now."""
    from medjobs_tui.console.signoff import DOCUMENTATION_ITEM

    item = next((i for i in signoff.items if i.id.rpartition(".")[2] == DOCUMENTATION_ITEM), None)
    if item is None:
        return Check("Updates documentation", False, f"no sign-off item {DOCUMENTATION_ITEM} is configured")
    if item.signed:
        return Check("Updates documentation", True, f"sign-off item \"{item.title}\" ({item.id}) signed by "
                     f"{_signer(item.signature, zone)}")
    return Check("Updates documentation", False, f"needs the signed sign-off item \"{item.title}\" ({item.id}): "
                 f"{item.status}" + (f" ({item.note})" if item.note else ""))


def _signer(sig, zone) -> str:
    """``Printed Name (user, review role), meaning, UTC (clinic time)``: 21 CFR 11.50's manifestation."""
    return (f"{sig.printed_name} ({sig.username}, {sig.review_role}), {sig.meaning}, "
            f"{sig.signed_at.strftime('%Y-%m-%d %H:%M:%S')} UTC ({sig.signed_at.astimezone(zone).strftime('%Y-%m-%d %H:%M %Z')})")


def signoff_lines(signoff, zone) -> list[str]:
    """Section 6: each checklist with its items, ticked only when signed (in force, intact, not stale), each
    with who signed it, when, with what meaning and against which baseline; stale ones say so. Comments
    are left out (free text)."""
    out: list[str] = []
    for c in signoff.checklists:
        out += [f"### {c.title}", "", f"{c.signed_count} of {len(c.items)} items signed"
                + ("; complete" if c.complete else "") + ".", ""]
        for i in c.items:
            head = f"- [{'x' if i.signed else ' '}] {i.title} (signed by the {i.review_role}; `{i.id}`): "
            sig = i.signature
            if sig is None:
                out.append(head + "not signed" + (f"; {i.note}" if i.note else ""))
                continue
            state = {"signed": "signed", "stale": f"{i.note}; was signed", "revoked": f"{i.note}; was signed",
                     "altered": f"{i.note}; was signed"}[i.status]
            out.append(head + f"{state} by {_signer(sig, zone)}, against baseline {sig.baseline.short()}")
        out.append("")
    out.append(f"Current baseline: {signoff.baseline.short()} (validated configuration SHA-256 "
               f"{signoff.baseline.config_sha256}).")
    out += [f"WARNING: {p}" for p in signoff.problems]
    out.append("")
    return out


def validation_chain(console: Console):
    """The evidence chain checked once (``engine.validation.check_chain``)."""
    from medjobs_tui.engine.validation import check_chain

    return check_chain(console.db, console.settings.evidence_dir)


def _is_masked(text: str) -> bool:
    """A recorded error is masked when it is one of MedJobs' fixed texts: a reference ``(ref E-...)`` or a
    known engine word (timed out, interrupted, crashed, cut short), never a handler's own message."""
    t = text.lower()
    return "(ref e-" in t or any(w in t for w in ("timed out", "timeout", "interrupted", "crashed", "cut short",
                                                   "worker", "permanent"))


def _file_sha(path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, AttributeError):
        return "-" * 64


def _local(dt: datetime | None, zone) -> str | None:
    return dt.astimezone(zone).isoformat(timespec="seconds") if dt else None


def evidence_blocks(f: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title, YAML document) of section 4, in VALIDATION.md's shapes."""
    zone, blocks = f["zone"], []
    for name, j in f["jobs"].items():
        job, m, v = j["config"], j["metrics"], j["validation"]
        blocks.append((f"{name}: configuration", {"job_config": {
            "priority": job.priority, "job_type": job.job_type,
            "schedule": {"type": job.schedule.type, "value": job.schedule.value},
            "retry_policy": {"max_attempts": job.retry_policy.max_attempts, "delay": _num(job.retry_policy.delay)},
            "timeout": _num(job.timeout), "validation_rules": job.validation_rules.model_dump(),
            "monitoring_config": job.monitoring_config.model_dump()}}))
        blocks.append((f"{name}: metrics", {"job_metrics": {
            "execution_time": m.last_duration_s, "success_rate": _pct(m.success_rate),
            "error_rate": _pct(m.error_rate), "retry_count": m.retry_count, "timeout_count": m.timeout_count,
            "validation_status": {"is_valid": v.is_valid, "timestamp": _local(v.timestamp, zone)},
            "evidence": {"path": f"jobs/{job.job_type}/"}}}))
    for row in f["supply"]:
        blocks.append((f"supply of order {row['medication_request_id']}", {"supply_monitor": {
            "medication_id": f"order-{row['medication_request_id']}", "current_supply": row["current_supply"],
            "daily_usage": row["daily_usage"],
            "days_remaining": shown_days(row["days_remaining"]),   # a capped figure: "more than 10 years"
            "is_critical": row["status"] == "critical",
            "last_check": _local(datetime.fromisoformat(row["computed_at"]), zone)}}))
    run = f["analytics"]
    if run:
        summary = json.loads(run["summary"] or "{}")
        blocks.append((f"analytics roll-up (run {run['id']})", {"analytics_roll_up": {
            "time_range": "daily", "metrics_collected": ["adherence", "supply", "safety", "performance"],
            "data_points": int(summary.get("orders", 0)) + int(summary.get("doses_scheduled", 0))
            + int(summary.get("runs", 0)),
            "processing_time": run["duration_s"]}}))
    b = f["backup"]
    if b:
        blocks.append((f"backup (run {b['run_id']})", {"backup": {
            "type": "full", "data_types": ["users", "medications", "schedules", "analytics"],
            "total_size": _size(b["size_bytes"]), "validation": "passed" if b["verified"] else "failed",
            "timestamp": _local(datetime.fromisoformat(b["created_at"]), zone)}}))
    return blocks


def _alert_summary(alert: dict[str, Any]) -> str:
    """An open alert's summary as the report gives it: one about a patient's medication (``PATIENT_KINDS``: days of
    supply, an interaction between orders) is not told here, whoever writes the report (an auditor may)."""
    return ("about a patient's medication: see `medjobs alerts` (operators, admins, reviewers)"
            if alert["kind"] in PATIENT_KINDS else alert["summary"])


def render_markdown(console: Console) -> str:
    """The report as Markdown, ending with the audit head and the report's own SHA-256."""
    f = facts(console)
    zone = f["zone"]
    out: list[str] = [f"# Validation report: {f['clinic']}", "",
                      f"Generated {_local(f['now'], zone)} by MedJobs {f['version']} from live state. A box is ticked "
                      "only when the system's own records show the item holds; each item names what it was judged on.",
                      "", "## 1. System overview", "",
                      "Core components: job configuration (config.yaml, validated at start-up), metrics (per job, from "
                      "recorded attempts), execution (priority queues, worker pool with hard timeouts, retries, "
                      "crash recovery) and the handlers, one per job type.", "",
                      "| job | type | priority | schedule | timeout s | critical path | evidence required |",
                      "|---|---|---|---|---|---|---|"]
    for name, j in f["jobs"].items():
        c = j["config"]
        out.append(f"| {name} | {JOB_TYPE_WORDS.get(c.job_type, c.job_type)} | {c.priority} | "
                   f"{c.schedule.type} `{c.schedule.value}` | {c.timeout:g} | {'yes' if c.validation_rules.critical_path else 'no'} | "
                   f"{'yes' if c.validation_rules.evidence_required else 'no'} |")
    out += ["", "## 2. Validation requirements", ""]
    for title, checks in f["checks"].items():
        out += [f"### {title}", ""]
        out += [f"- [{'x' if c.holds else ' '}] {c.name}: {c.basis}" for c in checks]
        out.append("")
    out += ["## 3. Implementation status", "",
            "| job | status | critical-path ticks ok | evidence ok | runs | success % | errors % | retries | timeouts | reasons |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, j in f["jobs"].items():
        m, v = j["metrics"], j["validation"]
        out.append(f"| {name} | {v.status} | {f'{v.ticks_ok}/{v.ticks_checked}' if v.critical_path else '-'} | "
                   f"{v.evidence_ok}/{v.runs_checked} | {m.runs} | {_pct(m.success_rate) if m.success_rate is not None else '-'} | "
                   f"{_pct(m.error_rate) if m.error_rate is not None else '-'} | {m.retry_count} | {m.timeout_count} | "
                   f"{'; '.join(v.reasons) or '-'} |")
    handled = [t for t in JOB_TYPES if any(j["config"].job_type == t for j in f["jobs"].values())]
    out += ["", f"Handlers configured: {len(handled)} of {len(JOB_TYPES)} job types "
            f"({', '.join(JOB_TYPE_WORDS[t] for t in handled)}).",
            f"Supply status by order: {', '.join(f'{k} {n}' for k, n in sorted(f['supply_counts'].items())) or 'none yet'}"
            " (section 4 shows the 20 orders with the fewest days remaining, by order id).",
            "", "## 4. Validation evidence", ""]
    for title, doc in evidence_blocks(f):
        out += [f"{title}:", "", "```yaml", _yaml(doc), "```", ""]
    out += ["## 5. Next steps", ""]
    steps = [f"- {name} is {j['validation'].status}: {'; '.join(j['validation'].reasons)}"
             for name, j in f["jobs"].items() if not j["validation"].is_valid]
    steps += [f"- {title}: \"{c.name}\" does not hold yet ({c.basis})"
              for title, checks in f["checks"].items() for c in checks if not c.holds]
    steps += [f"- {c.title} is not complete: {c.signed_count} of {len(c.items)} items signed"
              + (f" ({sum(i.status == 'stale' for i in c.items)} stale)" if any(i.status == "stale" for i in c.items)
                 else "") for c in f["signoff"].checklists if not c.complete]
    steps += [f"- Technical Review: \"{c.name}\" is not backed by a passing self-test ({c.basis})"
              for c in f["selftest"] if not c.holds]
    steps += [f"- alert {alert_label(a['id'])} is open and not acknowledged ({a['severity']}, "
              f"{alert_kind_words(a['kind'], a['severity'])}; "
              f"{PSEUDONYM_PART.sub('', a['scope'])}): {_alert_summary(a)}; acknowledge it or clear its cause "
              "(`medjobs alerts`)" for a in f["open_alerts"]]
    out += steps or ["- nothing fails, is stale or is missing"]
    out += ["", "## 6. Sign-off requirements", ""]
    out += signoff_lines(f["signoff"], zone)
    out += ["### Self-test backing the Technical Review", "",
            "The latest `medjobs selftest` (a validation exercise on a scratch copy of the clinic) backs these items "
            f"when it passed within the last {REVIEW_DAYS} days against the validated configuration in force.", ""]
    out += [f"- [{'x' if c.holds else ' '}] {c.name}: {c.basis}" for c in f["selftest"]] + [""]
    v = f["audit"]
    out += ["---", "", f"Audit head: entry {v.head_id}, MAC {v.head_mac} ({'chain verified' if v.ok else 'CHAIN BROKEN'}).", ""]
    body = "\n".join(out)
    return body + SHA_LINE + hashlib.sha256(body.encode("utf-8")).hexdigest() + "\n"


def verify_report_sha(text: str) -> bool:
    """True when the report's last line states the SHA-256 of everything above it."""
    body, sep, tail = text.rpartition(SHA_LINE)
    return bool(sep) and hashlib.sha256(body.encode("utf-8")).hexdigest() == tail.strip()


def render_html(console: Console) -> str:
    """The Markdown report rendered as one HTML page (markdown-it, CommonMark with tables)."""
    from markdown_it import MarkdownIt

    md = render_markdown(console)
    body = MarkdownIt("commonmark").enable("table").render(md)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(md.splitlines()[0].lstrip('# '))}</title></head><body>\n{body}</body></html>\n")


def write(text: str, path: str) -> None:
    """Write ``text`` to ``path`` (a temporary file, then rename: never half-written)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
