"""Attachments stored encrypted at rest (AES-GCM) in the installation's data directory.

Each file is sealed with a key derived (HKDF, as :mod:`carematch.security.crypto` derives the
field key) from the installation's master key, under its own purpose label, so a leak of the
attachment store alone reveals nothing and the field key is never used for files. The
attachment's id is the AEAD's associated data: a sealed file copied over another attachment's
fails to open, as does any changed byte. A SHA-256 of the plaintext is kept in the database and
checked again after decryption, so a file replaced together with a forged tag (or restored
from the wrong backup) is caught too.

On disk: ``<data_dir>/attachments/<first two hex of id>/<id>.bin`` holding
``nonce (12 bytes) || ciphertext || tag``, mode 0600, written to a temporary file and renamed
so a crash never leaves half a file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from carematch.core.config import get_settings

# The one HKDF step the field cipher uses; reused rather than written again (see its module).
from carematch.security.crypto import _derive
from carematch.security.keys import load_or_create_key

PURPOSE = b"carematch/attachment-encryption/v1"
NONCE = 12


class AttachmentCorrupted(Exception):
    """The stored file does not decrypt, or decrypts to bytes whose hash is not the recorded
    one: it was altered, truncated, swapped or is missing."""


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=8)
def _aead_for(key_path: str, env_key: str | None) -> AESGCM:
    master = load_or_create_key(Path(key_path), SecretStr(env_key) if env_key else None)
    return AESGCM(_derive(master, PURPOSE))


def _aead() -> AESGCM:
    settings = get_settings()
    env_key = settings.field_key.get_secret_value() if settings.field_key else None
    return _aead_for(str((settings.secrets_dir / "field.key").resolve()), env_key)


def store_dir() -> Path:
    """Where this installation keeps sealed attachments."""
    return get_settings().data_dir / "attachments"


def path_of(attachment_id: str) -> Path:
    """The sealed file of an attachment (ids are hex, so they are safe path parts)."""
    return store_dir() / attachment_id[:2] / f"{attachment_id}.bin"


def seal(attachment_id: str, data: bytes) -> bytes:
    """``nonce || AES-GCM(data)`` bound to the attachment id."""
    nonce = os.urandom(NONCE)
    return nonce + _aead().encrypt(nonce, data, attachment_id.encode("ascii"))


def open_sealed(attachment_id: str, sealed: bytes) -> bytes:
    """Inverse of :func:`seal`.

    Raises:
        AttachmentCorrupted: any byte changed, or the file belongs to another attachment.
    """
    if len(sealed) < NONCE + 16:
        raise AttachmentCorrupted("the stored file is truncated")
    try:
        return _aead().decrypt(sealed[:NONCE], sealed[NONCE:], attachment_id.encode("ascii"))
    except InvalidTag:
        raise AttachmentCorrupted("the stored file fails its integrity check") from None


def write(attachment_id: str, data: bytes) -> Path:
    """Seal ``data`` and store it atomically; returns the path written."""
    target = path_of(attachment_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(seal(attachment_id, data))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read(attachment_id: str, expected_sha256: str) -> bytes:
    """The plaintext of a stored attachment, checked against its recorded hash.

    Raises:
        AttachmentCorrupted: missing, altered, swapped, or not the recorded content.
    """
    try:
        sealed = path_of(attachment_id).read_bytes()
    except FileNotFoundError:
        raise AttachmentCorrupted("the stored file is missing") from None
    data = open_sealed(attachment_id, sealed)
    if sha256_hex(data) != expected_sha256:
        raise AttachmentCorrupted("the file does not match its recorded hash")
    return data


def remove(attachment_id: str) -> None:
    """Delete a sealed file if present (an upload whose transaction failed)."""
    path_of(attachment_id).unlink(missing_ok=True)
