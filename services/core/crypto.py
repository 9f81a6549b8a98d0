"""Encryption of personal data (PII) at rest.

ID numbers, phone numbers and similar fields are stored encrypted with Fernet
(AES-128-CBC + HMAC-SHA256, random IV), so a leaked database dump alone does
not expose them. Because Fernet ciphertexts are randomized, exact-match search
and unique indexes use a separate deterministic keyed hash (HMAC-SHA256).
Both keys are derived from one configured secret with HKDF using distinct
labels, so neither key reveals the other.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["PiiCipher", "MIN_SECRET_LENGTH"]

MIN_SECRET_LENGTH = 16
_INFO_ENCRYPTION = b"fdoc-pii-encryption"
_INFO_LOOKUP = b"fdoc-pii-lookup"


def _derive_key(secret: bytes, info: bytes) -> bytes:
    # A new HKDF object per derivation: HKDF instances are single-use.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class PiiCipher:
    """Encrypts/decrypts PII and computes lookup hashes from PII_ENCRYPTION_KEY.

    Keys are derived once in the constructor; create one instance per process
    and reuse it (encrypt/decrypt then cost only the Fernet operation).
    """

    __slots__ = ("_fernet", "_lookup_key", "_masked")

    def __init__(self, secret: str) -> None:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"PII_ENCRYPTION_KEY must be a string of at least {MIN_SECRET_LENGTH} characters"
            )
        secret_bytes = secret.encode("utf-8")
        encryption_key = _derive_key(secret_bytes, _INFO_ENCRYPTION)
        self._fernet = Fernet(base64.urlsafe_b64encode(encryption_key))
        self._lookup_key = _derive_key(secret_bytes, _INFO_LOOKUP)
        # Lists show the masked number of every row: remembered per ciphertext (the
        # masked form only, never the plaintext), so a page decrypts only new rows.
        self._masked = functools.lru_cache(maxsize=50_000)(self._mask)

    def __repr__(self) -> str:
        # Never let key material end up in logs or tracebacks.
        return "PiiCipher(<redacted>)"

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a string; returns a Fernet token (URL-safe ASCII)."""
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be str")
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token produced by ``encrypt``.

        Raises ValueError if the token is malformed, tampered with, or was
        encrypted under a different PII_ENCRYPTION_KEY.
        """
        if not isinstance(token, str):
            raise ValueError("invalid PII token: expected str")
        try:
            data = self._fernet.decrypt(token.encode("ascii"))
            return data.decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise ValueError(
                "invalid PII token: corrupted data or wrong PII_ENCRYPTION_KEY"
            ) from None

    def _mask(self, token: str) -> str:
        from services.core.masking import mask_id_number

        return mask_id_number(self.decrypt(token))

    def masked_id_number(self, token: str) -> str:
        """The masked ID number (as lists show it) of an encrypted one."""
        return self._masked(token)

    def lookup_hash(self, value: str) -> str:
        """Deterministic hex HMAC-SHA256 of ``value`` for exact search / unique index.

        Callers must normalize first (e.g. normalize_id_number, normalize_mobile)
        so equivalent inputs hash identically.
        """
        if not isinstance(value, str):
            raise TypeError("value must be str")
        return hmac.new(self._lookup_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
