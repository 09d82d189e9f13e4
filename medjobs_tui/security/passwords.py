"""Passwords: Argon2id hashes as PHC strings, the password rules, and generated passwords.

Hashes are made with ``cryptography``'s Argon2id (RFC 9106) at the cost the config gives
(``security.password_hash``; default OWASP's minimum m=19 MiB, t=2, p=1) and stored as a PHC string
(``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``, unpadded base64), so a stored hash keeps the cost
it was made with and verifying needs nothing else. Rules: at least MIN_LENGTH characters and not a
common password (the bundled list ``data/common-passwords.txt``, with its source in its header).
Sources: OWASP Password Storage Cheat Sheet; NIST SP 800-63B 5.1.1.2 (length, blocklist).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

MIN_LENGTH = 12
"""Fewest characters a password may have (NIST SP 800-63B allows 8; the clinic asks for 12)."""

MAX_LENGTH = 256
"""Most characters a password may have (a bound on the work one sign-in can ask for)."""

SALT_BYTES = 16
HASH_BYTES = 32


class PasswordRuleError(ValueError):
    """The password breaks a rule; the message says which (and never repeats the password)."""


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost: ``memory_kib`` KiB of memory, ``iterations`` passes, ``lanes`` parallel lanes."""

    memory_kib: int = 19 * 1024
    iterations: int = 2
    lanes: int = 1


OWASP = HashParams()
"""OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, params: HashParams, length: int = HASH_BYTES) -> bytes:
    return Argon2id(salt=salt, length=length, iterations=params.iterations, lanes=params.lanes,
                    memory_cost=params.memory_kib).derive(password.encode("utf-8"))


def hash_password(password: str, params: HashParams = OWASP) -> str:
    """The PHC string of ``password`` under a fresh random salt, at cost ``params``."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, params)
    return (f"$argon2id$v=19$m={params.memory_kib},t={params.iterations},p={params.lanes}"
            f"${_b64(salt)}${_b64(digest)}")


def parse_phc(phc: str) -> tuple[HashParams, bytes, bytes]:
    """``(params, salt, hash)`` of an Argon2id PHC string. Raises ValueError if it is not one."""
    parts = phc.split("$")
    if len(parts) != 6 or parts[0] or parts[1] != "argon2id" or parts[2] != "v=19":
        raise ValueError("not an Argon2id (v=19) PHC string")
    fields = dict(item.split("=", 1) for item in parts[3].split(","))
    params = HashParams(memory_kib=int(fields["m"]), iterations=int(fields["t"]), lanes=int(fields["p"]))
    return params, _unb64(parts[4]), _unb64(parts[5])


def verify_password(password: str, phc: str | None) -> bool:
    """True when ``password`` matches the PHC string ``phc``; False for no hash or a malformed one.

    The comparison is constant-time. Without a hash (unknown user) the same work is done against a
    dummy hash, so the answer's timing does not tell whether the user exists.
    """
    if len(password) > MAX_LENGTH:
        return False
    try:
        params, salt, expected = parse_phc(phc) if phc else (OWASP, b"\0" * SALT_BYTES, b"")
    except (ValueError, KeyError):
        return False
    actual = _derive(password, salt, params, max(len(expected), 4))
    return bool(expected) and hmac.compare_digest(actual, expected)


def needs_rehash(phc: str, params: HashParams) -> bool:
    """True when ``phc`` was made with a lower cost than ``params`` (rehash it at the next sign-in)."""
    try:
        old, _, _ = parse_phc(phc)
    except (ValueError, KeyError):
        return True
    return (old.memory_kib, old.iterations, old.lanes) < (params.memory_kib, params.iterations, params.lanes)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-case."""
    text = resources.files("medjobs_tui.security").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def _repeats_a_shorter_unit(text: str) -> bool:
    return any(len(text) % n == 0 and text == text[:n] * (len(text) // n) for n in range(1, len(text) // 2 + 1))


def check_password_rules(password: str, username: str | None = None) -> None:
    """Raise PasswordRuleError unless ``password`` is long enough and not common.

    Refused: fewer than MIN_LENGTH or more than MAX_LENGTH characters; a password of the bundled list,
    or one of them with digits or symbols before or after it (``Password2024!``); one word or number
    repeated (``passwordpassword``, ``121212121212``); digits and symbols only; the user name in it.
    """
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"a password needs at least {MIN_LENGTH} characters (this one has {len(password)})")
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(f"a password has at most {MAX_LENGTH} characters")
    lower = password.lower()
    core = lower.strip(string.digits + string.punctuation + " ")
    common = common_passwords()
    if lower in common or core in common or any(
            _repeats_a_shorter_unit(x) and x[:n] in common
            for x in (lower, core) for n in range(1, len(x) // 2 + 1) if len(x) % n == 0):
        raise PasswordRuleError("that password is on the list of common passwords; choose another")
    if not core or _repeats_a_shorter_unit(lower) or _repeats_a_shorter_unit(core):
        raise PasswordRuleError("that password is a pattern (digits, symbols or one thing repeated); choose another")
    if username and len(username) >= 3 and username.lower() in lower:
        raise PasswordRuleError("a password may not contain the user name")


WORDS_ALPHABET = string.ascii_lowercase + string.digits


def generate_password(groups: int = 4, size: int = 5) -> str:
    """A random password of ``groups`` groups of ``size`` lower-case letters and digits, joined by
    ``-`` (e.g. ``k3v9q-7tmwa-…``): about 5.17 bits a character, 103 bits for the default 4x5."""
    return "-".join("".join(secrets.choice(WORDS_ALPHABET) for _ in range(size)) for _ in range(groups))
