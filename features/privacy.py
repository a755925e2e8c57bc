"""Identity keys as salted hashes, wherever leadscore stores them.

Lead ids, emails and device ids identify people. Where leadscore persists one (the
training run's snapshot manifest in MLflow), it stores ``HMAC-SHA256(salt, key)`` instead:
the same key and salt always give the same hash, so a record can be looked up by someone
who knows both, but the key cannot be read back. The salt comes from
``LEADSCORE_HASH_SALT`` or from the file named by ``LEADSCORE_HASH_SALT_FILE``; without
one, each process draws a random salt (hashes are then not comparable across runs).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import MutableMapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import UserError

SALT_ENV = "LEADSCORE_HASH_SALT"
SALT_FILE_ENV = "LEADSCORE_HASH_SALT_FILE"
PREFIX = "h1:"


def secret_setting(environ: MutableMapping[str, str], name: str, file_name: str, what: str) -> str | None:
    """A secret given in ``environ[name]`` or as the first line of the file ``environ[file_name]``.

    None if neither is set; :class:`UserError` if both are, or the file is unreadable or empty.
    """
    value = environ.get(name, "")
    path = environ.get(file_name, "").strip()
    if value and path:
        raise UserError(f"set only one of {name} and {file_name}")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{file_name}: cannot read the {what} file {path}: {e}") from None
        value = lines[0] if lines else ""
        if not value.strip():
            raise UserError(f"{file_name}: the {what} file {path} is empty")
    return value.strip() or None


def salt_from(environ: MutableMapping[str, str]) -> bytes | None:
    """The configured salt, or None if none is configured."""
    value = secret_setting(environ, SALT_ENV, SALT_FILE_ENV, "salt")
    return value.encode() if value else None


@lru_cache(maxsize=1)
def _random_salt() -> bytes:
    return secrets.token_bytes(32)


def salt() -> bytes:
    return salt_from(os.environ) or _random_salt()


def hash_key(value: str, key: bytes | None = None) -> str:
    """The salted hash of one identity key (identifiers are compared trimmed and lower-cased)."""
    k = salt() if key is None else key
    return PREFIX + hmac.new(k, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def hash_keys(values: pd.Series, key: bytes | None = None) -> pd.Series:
    """:func:`hash_key` of every value (missing values stay missing), once per distinct value."""
    k = salt() if key is None else key
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    hashed = np.array([hash_key(str(u), k) for u in uniques], dtype=object)
    out = np.full(len(values), None, dtype=object)
    ok = codes >= 0
    out[ok] = hashed[codes[ok]]
    return pd.Series(out, index=values.index, dtype=object)
