"""Field encryption (AES-GCM) and HMAC blind indexes for exact look-ups.

ID numbers, phones, names, addresses, raw rows and sensitive conditions are stored encrypted.
A blind index (keyed HMAC-SHA256 of the normalised value) lets the database find equal values
without ever holding the plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy.engine import Dialect
from sqlalchemy.types import Text, TypeDecorator

from carematch.core.config import get_settings
from carematch.security.keys import load_or_create_key

_VERSION = "v1"


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class FieldCipher:
    """Encrypts and decrypts single field values; computes blind indexes."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(_derive(master_key, b"carematch/field-encryption/v1"))
        self._index_key = _derive(master_key, b"carematch/blind-index/v1")

    def encrypt(self, plaintext: str) -> str:
        """Return ``v1:<base64(nonce || ciphertext || tag)>``."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str) -> str:
        """Inverse of :meth:`encrypt`; raises ``cryptography.exceptions.InvalidTag`` if altered."""
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown ciphertext version {version!r}")
        blob = base64.b64decode(body)
        return self._aead.decrypt(blob[:12], blob[12:], None).decode("utf-8")

    def blind_index(self, value: str, purpose: str) -> str:
        """Keyed HMAC of a normalised value; ``purpose`` keeps indexes of different fields apart."""
        message = f"{purpose}\x1f{value}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


@lru_cache(maxsize=8)
def _cipher_for(key_path: str, env_key: str | None) -> FieldCipher:
    secret = SecretStr(env_key) if env_key else None
    return FieldCipher(load_or_create_key(Path(key_path), secret))


_current: tuple[object, FieldCipher] | None = None


def current_cipher() -> FieldCipher:
    """The cipher for the configured data directory (key created on first use)."""
    global _current
    settings = get_settings()
    # Called for every encrypted value: skip path resolution while the settings are unchanged.
    if _current is not None and _current[0] is settings:
        return _current[1]
    env_key = settings.field_key.get_secret_value() if settings.field_key else None
    cipher = _cipher_for(str((settings.secrets_dir / "field.key").resolve()), env_key)
    _current = (settings, cipher)
    return cipher


class EncryptedText(TypeDecorator[str]):
    """A text column stored AES-GCM encrypted; reads decrypt transparently."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_cipher().decrypt(value)
