"""Every key of a clinic: the store key, the audit key and the backup key, their key file and the recovery copy.

What lives where (Source: 45 CFR 164.312(a)(2)(iv) encryption; NIST SP 800-57 key management; DOMAIN.md):

- The **key file** (config ``security.key_file``, default ``keys/medjobs.key`` beside config.yaml;
  env ``MEDJOBS_KEY_FILE`` overrides) holds three random 256-bit keys as JSON: ``store`` (SQLCipher raw
  key: no key derivation per connection), ``audit`` (HMAC-SHA256 key of the audit chain) and ``backup``
  (SQLCipher key of backup copies), plus the clinic id, the recovery public key and a SHA-256 check.
  Mode 0600 in a 0700 folder, owned by the user running MedJobs; it lies outside ``data/`` and outside
  the backups, so no copy of the store carries its own key.
- The **recovery copy** (``<store folder>/<store name>.recovery.json``, copied into the backups folder by
  each backup) holds the same keys encrypted to the recovery key: ECIES over X25519 (the recovery
  key's private half is derived from the recovery text with HKDF-SHA256; a fresh ephemeral key per
  wrap; the AES-256-GCM key is HKDF-SHA256 of the shared secret), a 96-bit random nonce, and
  associated data binding it to its purpose and clinic id. The recovery text is 160 random bits
  (base32), so HKDF (not a slow password KDF) fits its entropy. Because wrapping needs only the
  public half, ``key rotate`` re-wraps without asking for the recovery key, which is never stored.

Errors: KeyFileError, always one line naming the file and what is wrong (missing, wrong permissions,
damaged, wrong recovery key). Keys are never printed: ``Keys``' repr shows no bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from medjobs_tui.config import Settings
from medjobs_tui.security.masking import SafeError

KEY_FILE_ENV = "MEDJOBS_KEY_FILE"
FORMAT = "medjobs-keys/1"
WRAP_FORMAT = "medjobs-keys-wrap/1"
KEY_BYTES = 32
RECOVERY_BYTES = 20  # 160 bits -> 32 base32 characters, shown in 8 groups of 4


class KeyFileError(SafeError):
    """The keys cannot be used; ``str(err)`` is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Keys:
    """The clinic's keys, each 32 random bytes: ``store`` (SQLCipher raw key), ``audit`` (HMAC-SHA256 key
    of the audit chain), ``backup`` (SQLCipher key of backups). ``previous_store`` is set only while a key
    rotation is under way (see ``rotate_store_key``). The repr shows no key bytes."""

    store: bytes = field(repr=False)
    audit: bytes = field(repr=False)
    backup: bytes = field(repr=False)
    clinic_id: str = ""
    recovery_public: bytes = field(default=b"", repr=False)
    previous_store: bytes | None = field(default=None, repr=False)


# ------------------------------------------------------------------------------------------ paths


def key_file_path(settings: Settings) -> Path:
    """The key file: ``$MEDJOBS_KEY_FILE`` if set, else config ``security.key_file`` (relative to config.yaml)."""
    env = os.environ.get(KEY_FILE_ENV)
    return Path(env).expanduser().resolve() if env else settings.key_file_path


def recovery_file_path(settings: Settings) -> Path:
    """The recovery copy beside the store: ``<store folder>/<store name>.recovery.json``."""
    db = settings.database_path
    return db.with_name(db.stem + ".recovery.json")


def ensure_private_dir(path: Path) -> None:
    """Create folder ``path`` (and missing parents) with mode 0700; folders that exist keep their mode."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600: a temporary file in the same folder, fsync,
    rename over ``path``, fsync of the folder. A crash leaves either the old or the new content."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems do not fsync folders
        pass


# ------------------------------------------------------------------------------------------ key file


def _check(payload: dict[str, Any]) -> str:
    body = json.dumps({k: payload[k] for k in sorted(payload) if k != "check"}, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _payload(keys: Keys) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": FORMAT, "clinic_id": keys.clinic_id, "store": keys.store.hex(), "audit": keys.audit.hex(),
        "backup": keys.backup.hex(), "recovery_public": keys.recovery_public.hex(),
    }
    if keys.previous_store is not None:
        out["previous_store"] = keys.previous_store.hex()
    out["check"] = _check(out)
    return out


def _keys_from(payload: Any, where: Path) -> Keys:
    def damaged(what: str) -> KeyFileError:
        return KeyFileError(f"{where}: key file damaged ({what}); restore it from its copy or recover it "
                            "with the recovery key (`medjobs key recover`)")

    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise damaged("not a MedJobs key file")
    if payload.get("check") != _check(payload):
        raise damaged("its check sum does not match")
    out: dict[str, Any] = {}
    for name in ("store", "audit", "backup", "recovery_public", "previous_store"):
        value = payload.get(name)
        if value is None and name == "previous_store":
            continue
        try:
            raw = bytes.fromhex(value)
        except (TypeError, ValueError):
            raise damaged(f"{name} is not hex") from None
        if len(raw) != KEY_BYTES:
            raise damaged(f"{name} is not {KEY_BYTES} bytes")
        out[name] = raw
    return Keys(clinic_id=str(payload.get("clinic_id", "")), **out)


def write_key_file(settings: Settings, keys: Keys) -> Path:
    """Write ``keys`` to the key file atomically (0600, folder 0700); return its path."""
    path = key_file_path(settings)
    write_private_file(path, (json.dumps(_payload(keys), indent=2) + "\n").encode())
    return path


def key_file_exists(settings: Settings) -> bool:
    """True when the key file exists (whatever its state)."""
    return key_file_path(settings).exists()


def load_keys(settings: Settings) -> Keys:
    """Read and check the key file. Raises KeyFileError (one line naming the file) when it is missing,
    not a regular file, readable or writable by others or owned by another user, or damaged.

    A key file left by an interrupted rotation (it still names the previous store key) is settled first:
    the store is re-keyed to the new key if it still opens with the old one, and the file is rewritten.
    """
    keys = _read_key_file(settings)
    if keys.previous_store is not None:
        keys = _settle_rotation(settings, keys)
    return keys


def _settle_rotation(settings: Settings, keys: Keys) -> Keys:
    from medjobs_tui.store import key_opens, rekey

    db = settings.database_path
    if db.exists() and not key_opens(db, keys.store):
        if not key_opens(db, keys.previous_store):
            raise KeyFileError(f"{key_file_path(settings)}: neither the new nor the previous store key of an "
                               f"interrupted rotation opens {db}")
        rekey(db, keys.previous_store, keys.store)
    return finish_rotation(settings, keys)


def _check_key_folder(folder: Path) -> None:
    """Raise KeyFileError when the key file's ``folder`` may be written by its group or others, or belongs to
    another user than the one running MedJobs (or root): whoever can write there (its owner always can, by
    changing its mode) can swap the key file for one of their own, or replace it with a link. Source: CWE-732
    (incorrect permission assignment for a critical resource)."""
    try:
        st = folder.stat()
    except OSError as exc:
        raise KeyFileError(f"{folder}: the key folder cannot be read ({exc.strerror})") from None
    if st.st_mode & 0o022:
        raise KeyFileError(f"{folder}: the key folder's permissions are {stat.S_IMODE(st.st_mode):04o}; other users "
                           f"could replace the key file in it. Make it its owner's only (chmod 700 {folder})")
    if hasattr(os, "getuid") and st.st_uid not in (os.getuid(), 0):
        raise KeyFileError(f"{folder}: the key folder belongs to another user (uid {st.st_uid}), who could replace "
                           f"the key file in it; give it to the user MedJobs runs as (chown it, then chmod 700)")


def _read_key_file(settings: Settings) -> Keys:
    path = key_file_path(settings)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no key file; a new clinic is set up with `medjobs init` (the demo with `medjobs demo`), "
            "a lost key file is rebuilt with `medjobs key recover`") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: key file cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{path}: key file is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(f"{path}: key file permissions are {stat.S_IMODE(st.st_mode):04o}; it must be "
                           f"readable by its owner only (chmod 600 {path})")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise KeyFileError(f"{path}: key file belongs to another user (uid {st.st_uid}); MedJobs runs as its owner")
    _check_key_folder(path.parent)
    try:
        text = path.read_text(encoding="utf-8")
        payload = json.loads(text)
    except OSError as exc:
        raise KeyFileError(f"{path}: key file cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = None
    return _keys_from(payload, path)


# ------------------------------------------------------------------------------------------ recovery


def _normalise_recovery(text: str) -> bytes:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    try:
        raw = base64.b32decode(cleaned)
    except (ValueError, base64.binascii.Error):
        raise KeyFileError("recovery key: not a MedJobs recovery key (32 letters and digits in groups of 4)") from None
    if len(raw) != RECOVERY_BYTES:
        raise KeyFileError("recovery key: not a MedJobs recovery key (32 letters and digits in groups of 4)")
    return raw


def _format_recovery(raw: bytes) -> str:
    text = base64.b32encode(raw).decode()
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def _recovery_private(raw: bytes) -> X25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"medjobs-recovery/1",
                info=b"x25519 private key").derive(raw)
    return X25519PrivateKey.from_private_bytes(seed)


def _public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _aad(clinic_id: str) -> bytes:
    return f"{WRAP_FORMAT}|purpose=clinic keys|clinic={clinic_id}".encode()


def _wrap_key(shared: bytes, ephemeral_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_pub + recipient_pub,
                info=WRAP_FORMAT.encode()).derive(shared)


def write_recovery_copy(settings: Settings, keys: Keys, folder: Path | None = None) -> Path:
    """Encrypt ``keys`` to the recovery public key (ECIES X25519 + AES-256-GCM, 96-bit random nonce,
    associated data = format, purpose and clinic id) and write the recovery copy atomically (0600).
    Written beside the store unless ``folder`` is given (backups keep a copy). Returns its path."""
    recipient = X25519PublicKey.from_public_bytes(keys.recovery_public)
    ephemeral = X25519PrivateKey.generate()
    eph_pub = _public_bytes(ephemeral.public_key())
    aes = AESGCM(_wrap_key(ephemeral.exchange(recipient), eph_pub, keys.recovery_public))
    nonce = os.urandom(12)
    plain = json.dumps(_payload(replace(keys, previous_store=None))).encode()
    blob = {
        "format": WRAP_FORMAT, "clinic_id": keys.clinic_id, "recovery_public": keys.recovery_public.hex(),
        "ephemeral_public": eph_pub.hex(), "nonce": nonce.hex(),
        "ciphertext": aes.encrypt(nonce, plain, _aad(keys.clinic_id)).hex(),
    }
    path = recovery_file_path(settings) if folder is None else folder / recovery_file_path(settings).name
    write_private_file(path, (json.dumps(blob, indent=2) + "\n").encode())
    return path


def recover_keys(settings: Settings, recovery_key: str, copy: Path | None = None) -> Keys:
    """The keys from the recovery copy (beside the store, or ``copy``), unlocked with ``recovery_key``.

    Raises KeyFileError when the copy is missing or damaged, or the recovery key is not the right one.
    """
    raw = _normalise_recovery(recovery_key)
    path = copy or recovery_file_path(settings)
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no recovery copy of the keys (a backups folder keeps one too)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(f"{path}: recovery copy damaged (not readable JSON)") from None
    try:
        if blob.get("format") != WRAP_FORMAT:
            raise ValueError
        eph_pub = bytes.fromhex(blob["ephemeral_public"])
        nonce = bytes.fromhex(blob["nonce"])
        ciphertext = bytes.fromhex(blob["ciphertext"])
        clinic_id = str(blob["clinic_id"])
    except (AttributeError, KeyError, TypeError, ValueError):
        raise KeyFileError(f"{path}: recovery copy damaged (fields missing or not hex)") from None
    private = _recovery_private(raw)
    own_pub = _public_bytes(private.public_key())
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        plain = AESGCM(_wrap_key(shared, eph_pub, own_pub)).decrypt(nonce, ciphertext, _aad(clinic_id))
    except (InvalidTag, ValueError):
        raise KeyFileError(f"{path}: this recovery key does not open the recovery copy "
                           "(wrong recovery key, or the copy was changed)") from None
    return _keys_from(json.loads(plain), path)


# ------------------------------------------------------------------------------------------ creation


def new_keys(clinic_id: str | None = None) -> tuple[Keys, str]:
    """Fresh random keys and a fresh recovery key: (Keys, recovery key text shown once)."""
    raw = secrets.token_bytes(RECOVERY_BYTES)
    public = _public_bytes(_recovery_private(raw).public_key())
    keys = Keys(store=secrets.token_bytes(KEY_BYTES), audit=secrets.token_bytes(KEY_BYTES),
                backup=secrets.token_bytes(KEY_BYTES), clinic_id=clinic_id or secrets.token_hex(8),
                recovery_public=public)
    return keys, _format_recovery(raw)


def create_keys(settings: Settings) -> str:
    """Generate the clinic's keys, write the key file (0600, folder 0700) and the recovery copy beside the
    store; return the recovery key text (show it once, never store it).

    Refuses (KeyFileError, nothing written) when a key file or a recovery copy exists already, or when a
    store exists (its key would be lost: a store is keyed once, at creation).
    """
    path = key_file_path(settings)
    if path.exists():
        raise KeyFileError(f"{path}: keys exist already; MedJobs never overwrites keys")
    if recovery_file_path(settings).exists():
        raise KeyFileError(f"{recovery_file_path(settings)}: a recovery copy of other keys exists; "
                           "MedJobs never overwrites keys")
    if settings.database_path.exists():
        raise KeyFileError(f"{settings.database_path}: a store exists but its key file {path} does not; "
                           "new keys would not open it (restore the key file, or `medjobs key recover`)")
    keys, recovery = new_keys()
    write_key_file(settings, keys)
    write_recovery_copy(settings, keys)
    return recovery


def create_demo_keys(settings: Settings) -> str | None:
    """For the demo clinic: create keys (return the recovery key) when neither store nor key file exists;
    otherwise None, changing nothing (``load_keys`` then says what is wrong, if anything)."""
    if key_file_path(settings).exists() or settings.database_path.exists():
        return None
    return create_keys(settings)


def restore_key_file(settings: Settings, keys: Keys) -> Path:
    """Write recovered ``keys`` as the key file. Refuses (KeyFileError) when a key file exists."""
    path = key_file_path(settings)
    if path.exists():
        raise KeyFileError(f"{path}: a key file exists; move it aside first if it is damaged")
    return write_key_file(settings, keys)


def start_rotation(settings: Settings, keys: Keys) -> Keys:
    """First step of a store-key rotation: write the key file with a new store key and the current one as
    ``previous_store`` (so a crash between the file and the re-key loses nothing). Returns the new Keys."""
    rotated = replace(keys, store=secrets.token_bytes(KEY_BYTES), previous_store=keys.store)
    write_key_file(settings, rotated)
    return rotated


def finish_rotation(settings: Settings, keys: Keys) -> Keys:
    """Last step of a rotation: drop ``previous_store`` from the key file and re-wrap the recovery copy."""
    done = replace(keys, previous_store=None)
    write_key_file(settings, done)
    write_recovery_copy(settings, done)
    return done
