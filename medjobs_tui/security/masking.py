"""Error masking: what a user sees of a failure is a generic text and a reference, never patient data.

Only exceptions of class SafeError (raised by MedJobs' own code with texts written to carry no
patient data) keep their message; every other exception is shown as its class name and a
reference. Source: DOMAIN.md "Error masking"; OWASP Error Handling Cheat Sheet.
"""

from __future__ import annotations

import logging
import re
import secrets

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 control characters except tab and newline: ESC/CSI start terminal escape sequences."""


class SafeError(Exception):
    """An error whose message is safe to show: it names what is wrong and where, with no patient data."""


def error_reference() -> str:
    """A short random reference (``E-3F9A1C``) that ties a shown error to its protected details."""
    return "E-" + secrets.token_hex(3).upper()


def mask_exception(exc: BaseException, ref: str | None = None) -> str:
    """The text a user may see for ``exc``: SafeError messages as they are, others as class + reference."""
    ref = ref or error_reference()
    if isinstance(exc, SafeError):
        return f"{exc} (ref {ref})"
    return f"{type(exc).__name__}: details withheld (ref {ref})"


# ---------------------------------------------------------------------------------------------- logs
# The second line of defence: MedJobs' own texts carry pseudonyms and counts only, but an exception from a
# library may quote what it was given. Every log line passes through ``redact`` on its way out.

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_MBI_LETTER = "AC-HJKMNP-RT-Y"
"""Letters a Medicare Beneficiary Identifier uses: A-Z without S, L, O, I, B, Z. Source: CMS, "Understanding the
Medicare Beneficiary Identifier (MBI) Format"."""

_REDACTIONS: list[tuple[re.Pattern[str], str]] = [
    # URLs with a host (a FHIR server's patient URL, a callback with a name in its query): the whole URL
    # (a trailing full stop, comma, colon or bracket is the sentence's, not the URL's)
    (re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#\"'<>]*[^\s/?#\"'<>.,;:!?)\]]"
                r"(?:[/?#][^\s\"'<>]*[^\s\"'<>.,;:!?)\]])?/?"), "[url]"),
    # e-mail addresses
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # UUIDs (FHIR resource ids; Synthea reuses them as medical record numbers), also as urn:uuid:
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "[id]"),
    # FHIR references such as Patient/abc-123
    (re.compile(r"\b(Patient|Person|RelatedPerson|Practitioner)/[A-Za-z0-9.\-]{1,64}"), r"\1/[id]"),
    # IPv6 addresses (HIPAA identifier 15): the full form (eight groups) or one with "::" (a time of day has
    # neither seven colons nor "::")
    (re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?!\w|:[0-9A-Fa-f])"), "[ip]"),
    (re.compile(r"(?<![\w:])(?=[0-9A-Fa-f:]*[0-9A-Fa-f])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::"
                r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?!\w|:[0-9A-Fa-f])"), "[ip]"),
    # IPv4 addresses (HIPAA identifier 15), before the dates: 10.0.0.12 is no date
    (re.compile(r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b"), "[ip]"),
    # US social security numbers: 123-45-6789 and 123 45 6789
    (re.compile(r"\b\d{3}([- ])\d{2}\1\d{4}\b"), "[ssn]"),
    # ZIP+4 codes (01103-1234): a ZIP code below state level is an identifier
    (re.compile(r"\b\d{5}-\d{4}\b"), "[zip]"),
    # Medicare Beneficiary Identifiers: 11 characters, 1EG4TE5MK72, also written 1EG4-TE5-MK72 or 1EG4 TE5 MK72
    (re.compile(rf"(?i:\b[1-9][{_MBI_LETTER}][{_MBI_LETTER}0-9]\d([- ]?)[{_MBI_LETTER}][{_MBI_LETTER}0-9]\d\1"
                rf"[{_MBI_LETTER}]{{2}}\d{{2}}\b)"), "[mbi]"),
    # dates written out: 3 Feb 1970, 3 February 1970, February 3, 1970, Feb. 3rd 1970, 03-FEB-1970
    (re.compile(rf"(?i:\b\d{{1,2}}(?:st|nd|rd|th)?(?:\s+|-)(?:of\s+)?{_MONTH}\.?,?(?:\s+|-)(?:18|19|20)\d{{2}}\b)"),
     "[date]"),
    (re.compile(rf"(?i:\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:18|19|20)\d{{2}}\b)"), "[date]"),
    # phone numbers: (555) 123-4567, 555-123-4567, +1 555 123 4567, 555.123.4567
    (re.compile(r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"), "[phone]"),
    # full dates (a birth date is one): 1970-05-04, 05/04/1970, 4.5.1970; an ISO instant (a run's schedule,
    # 2026-11-29T07:45:00+00:00) is kept
    (re.compile(r"\b(?:18|19|20)\d{2}-\d{2}-\d{2}(?!T\d)"), "[date]"),
    (re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.](?:18|19|20)?\d{2}\b"), "[date]"),
    # MRN-like identifiers: a long run of digits, optionally with letters around it (S99912345, X12345678X)
    (re.compile(r"\b[A-Za-z]{0,3}\d{7,}[A-Za-z]{0,2}\b"), "[id]"),
    # names after a key that says so: name=..., "family": "...", patient: ...
    (re.compile(r"""(\b(?i:name|given|family|patient|prefix|suffix)["']?\s*[:=]\s*\[?["']?)"""
                r"""([A-Z][\w'.-]*(?:[ ,]+["']?[A-Z][\w'.-]*){0,3})"""), r"\1[name]"),
    # Synthea-style names (a capitalised word ending in digits: Jacinto644); no real word looks like that
    (re.compile(r"\b[A-Z][a-z]+\d{1,4}\b"), "[name]"),
    # street addresses: a house number, a capitalised street name and a street word
    (re.compile(r"\b\d{1,6}\s+(?:[A-Z][\w'.-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|"
                r"Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle|Parkway|Highway|Suite)\b\.?(?:\s+(?:Unit|Apt|Suite)"
                r"\s+\w+)?"), "[address]"),
]


def redact(text: str) -> str:
    """``text`` with identifier-shaped parts replaced by placeholders: URLs with a host, e-mail addresses, UUIDs
    and FHIR references, IPv4 addresses, SSNs (dashed or spaced), ZIP+4 codes, Medicare MBIs, phone numbers, full
    dates (numeric or written out: 3 Feb 1970, February 3, 1970), MRN-like ids, names after a name/patient key,
    Synthea-style names and street addresses. Pseudonyms (P-00012), run ids, job names, counts, durations
    (0.25 s), times of day and ISO UTC instants (2026-11-29T12:55:00+00:00) are kept. Source: the 18 HIPAA
    identifiers, 45 CFR 164.514(b)(2)."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message, exception text and stack (see ``redact``).

    Install it on handlers (``install_log_redaction``): a filter on a logger does not see its children's
    records, a filter on a handler sees every record it writes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Put RedactingFilter on ``logging.lastResort``: MedJobs configures no log handler, so its warnings
    and errors (and any library's) reach stderr through that handler. A deployment that adds its own
    handlers adds ``RedactingFilter()`` to them. Idempotent."""
    handler = logging.lastResort
    if handler is not None and _FILTER not in handler.filters:
        handler.addFilter(_FILTER)


def printable(text: str) -> str:
    """``text`` safe to put on a terminal: every C0/C1 control character except tab and newline (ESC and
    CSI start escape sequences that clear the screen, move the cursor or retitle the window) becomes
    U+FFFD. Stored text comes from imported files nobody here wrote; this is the last line before a
    screen or a CLI table. Source: OWASP "Log Injection" / terminal escape injection (CWE-150)."""
    return _CONTROL.sub("\ufffd", text)


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a control character that ``printable`` would replace (tab, newline and
    carriage return aside: FHIR narrative uses them)."""
    return any(ch != "\r" for ch in _CONTROL.findall(text))
