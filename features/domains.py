"""Email-domain type and company-size bands.

* :func:`email_domain` extracts the lower-cased domain of an address (``None`` when the
  address is missing or malformed).
* :func:`email_domain_type` classifies it as ``corporate``, ``free`` (consumer webmail and
  ISP mailboxes), ``disposable`` (throw-away inboxes) or ``missing``. The provider lists
  ship as package data (``features/data/free_email_domains.txt`` and
  ``features/data/disposable_email_domains.txt``) and are read lazily, once, on first use.
  A subdomain matches its parent (``mx.mailinator.com`` is disposable).
* :func:`company_size_band` / :func:`company_size_bands` bucket an employee count into
  :data:`COMPANY_SIZE_BANDS`; the scalar and the vectorised versions agree exactly.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from importlib import resources

import numpy as np

__all__ = [
    "COMPANY_SIZE_BANDS",
    "EMAIL_DOMAIN_TYPES",
    "company_size_band",
    "company_size_bands",
    "disposable_email_domains",
    "email_domain",
    "email_domain_type",
    "free_email_domains",
]

EMAIL_DOMAIN_TYPES: tuple[str, ...] = ("corporate", "free", "disposable", "missing")
COMPANY_SIZE_BANDS: tuple[str, ...] = (
    "1-10",
    "11-50",
    "51-200",
    "201-1000",
    "1001-5000",
    "5001+",
    "unknown",
)
# Inclusive upper bounds of the first five bands; anything above the last is "5001+".
_SIZE_UPPER_BOUNDS: tuple[float, ...] = (10.0, 50.0, 200.0, 1000.0, 5000.0)
_UNKNOWN_BAND = len(COMPANY_SIZE_BANDS) - 1

_FREE_FILE = "free_email_domains.txt"
_DISPOSABLE_FILE = "disposable_email_domains.txt"

# RFC 2606 / 6761 special-use top-level domains: such an address can never be delivered.
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
_MAX_EMAIL_CHARS = 320  # RFC 5321: 64 (local) + 1 + 255 (domain)
# A DNS host name: dot-separated labels of letters, digits and inner hyphens; at least two
# labels; the last (the TLD) has at least two characters.
_DOMAIN_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])"
)


# ---------------------------------------------------------------------------------------
# Domain lists
# ---------------------------------------------------------------------------------------
def _read_domain_list(filename: str) -> frozenset[str]:
    text = resources.files("features").joinpath("data", filename).read_text(encoding="utf-8")
    out: set[str] = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip().lower().rstrip(".")
        if entry:
            out.add(entry)
    return frozenset(out)


@functools.cache
def free_email_domains() -> frozenset[str]:
    """The free-mail provider domains shipped with the package.

    Returns
    -------
    frozenset of str
        Lower-case domains, read once from ``features/data/free_email_domains.txt``.
    """
    return _read_domain_list(_FREE_FILE)


@functools.cache
def disposable_email_domains() -> frozenset[str]:
    """The disposable-mail provider domains shipped with the package.

    Returns
    -------
    frozenset of str
        Lower-case domains, read once from ``features/data/disposable_email_domains.txt``.
    """
    return _read_domain_list(_DISPOSABLE_FILE)


# ---------------------------------------------------------------------------------------
# Email addresses
# ---------------------------------------------------------------------------------------
def email_domain(email: str | None) -> str | None:
    """Return the lower-cased domain of an email address.

    Parameters
    ----------
    email : str or None
        An address such as ``"Jane.Doe@Example.COM"``. Surrounding whitespace, a
        ``mailto:`` prefix, a display-name form ``"Jane <jane@example.com>"`` and a
        trailing dot on the domain are tolerated. Non-string values (``None``, ``NaN``,
        numbers) count as missing.

    Returns
    -------
    str or None
        The domain (``"example.com"``), IDNA-encoded when it is not ASCII; ``None`` when
        the address is missing or malformed: no ``@`` or more than one, empty local part,
        a domain that is not a valid host name with at least two labels, or one under a
        special-use top-level domain (``.test``, ``.example``, ``.invalid``,
        ``.localhost``, ``.local``).

    Examples
    --------
    >>> email_domain("  Jane.Doe@Example.COM ")
    'example.com'
    >>> email_domain("not-an-email") is None
    True
    """
    if not isinstance(email, str):
        return None
    s = email.strip()
    if not s or len(s) > 2 * _MAX_EMAIL_CHARS:
        return None
    if "<" in s and s.endswith(">"):
        s = s[s.rindex("<") + 1:-1].strip()
    if s[:7].lower() == "mailto:":
        s = s[7:].strip()
    if s.count("@") != 1:
        return None
    local, _, domain = s.partition("@")
    if not local.strip():
        return None
    return _clean_domain(domain)


@functools.lru_cache(maxsize=65_536)
def _clean_domain(domain: str) -> str | None:
    """The domain part of an address, validated and lower-cased (memoised: domains repeat)."""
    domain = domain.strip().lower().rstrip(".")
    if not domain:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(domain) > 253 or _DOMAIN_RE.fullmatch(domain) is None:
        return None
    if domain.rsplit(".", 1)[1] in _RESERVED_TLDS:
        return None
    return domain


def _in_list(domain: str, domains: frozenset[str]) -> bool:
    """True if ``domain`` or one of its parent domains (above the TLD) is in ``domains``."""
    if domain in domains:
        return True
    start = domain.find(".")
    while start != -1:
        parent = domain[start + 1:]
        if "." not in parent:
            return False
        if parent in domains:
            return True
        start = domain.find(".", start + 1)
    return False


def email_domain_type(email: str | None) -> str:
    """Classify the domain of an email address.

    Parameters
    ----------
    email : str or None
        The lead's email address.

    Returns
    -------
    str
        One of :data:`EMAIL_DOMAIN_TYPES`: ``"disposable"`` if the domain (or a parent
        domain) is a known throw-away provider or a placeholder such as ``example.com`` /
        ``test.com``, ``"free"`` if it is a known free-mail or
        ISP provider, ``"missing"`` for ``None``, empty or malformed addresses (see
        :func:`email_domain`), otherwise ``"corporate"``.

    Examples
    --------
    >>> email_domain_type("JANE@GMAIL.COM")
    'free'
    >>> email_domain_type("x@mx.mailinator.com")
    'disposable'
    >>> email_domain_type("jane@acme.io")
    'corporate'
    >>> email_domain_type("jane@")
    'missing'
    """
    return domain_type(email_domain(email))


def domain_type(domain: str | None) -> str:
    """Classify a domain already extracted by :func:`email_domain` (``None`` → missing)."""
    if domain is None:
        return "missing"
    if _in_list(domain, disposable_email_domains()):
        return "disposable"
    if _in_list(domain, free_email_domains()):
        return "free"
    return "corporate"


# ---------------------------------------------------------------------------------------
# Company size
# ---------------------------------------------------------------------------------------
def company_size_band(size: float | None) -> str:
    """Bucket an employee count into a company-size band.

    Parameters
    ----------
    size : float or None
        Number of employees. Anything ``float()`` accepts is used (ints, numpy scalars,
        numeric strings).

    Returns
    -------
    str
        One of :data:`COMPANY_SIZE_BANDS`. Band upper bounds are inclusive and applied to
        the raw value (no rounding): ``10 -> "1-10"``, ``10.5 -> "11-50"``,
        ``5000 -> "1001-5000"``, ``5000.5 -> "5001+"``. ``0`` falls in ``"1-10"``.
        ``None``, NaN, infinities, negative numbers and unparseable values give
        ``"unknown"``.

    Examples
    --------
    >>> company_size_band(50)
    '11-50'
    >>> company_size_band(float("nan"))
    'unknown'
    """
    if size is None:
        return COMPANY_SIZE_BANDS[_UNKNOWN_BAND]
    try:
        x = float(size)
    except (TypeError, ValueError, OverflowError):
        return COMPANY_SIZE_BANDS[_UNKNOWN_BAND]
    if not math.isfinite(x) or x < 0:
        return COMPANY_SIZE_BANDS[_UNKNOWN_BAND]
    return COMPANY_SIZE_BANDS[bisect.bisect_left(_SIZE_UPPER_BOUNDS, x)]


_BAND_LABELS = np.array(COMPANY_SIZE_BANDS, dtype=object)
_BOUNDS = np.array(_SIZE_UPPER_BOUNDS, dtype=np.float64)


def company_size_bands(sizes: np.ndarray) -> np.ndarray:
    """Vectorised :func:`company_size_band`.

    Parameters
    ----------
    sizes : numpy.ndarray
        Employee counts of any shape (array-likes such as lists or pandas Series are
        accepted too). Numeric arrays are banded in one pass; arrays that cannot be cast
        to float (object arrays holding ``pd.NA`` or text) fall back to the scalar
        function element by element.

    Returns
    -------
    numpy.ndarray
        Object array of band labels with the same shape as ``sizes``, equal element-wise
        to ``company_size_band`` applied to each value.
    """
    try:
        x = np.asarray(sizes, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = np.asarray(sizes, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        for pos, value in np.ndenumerate(arr):
            out[pos] = company_size_band(value)
        return out
    valid = np.isfinite(x) & (x >= 0)
    band = np.where(valid, np.searchsorted(_BOUNDS, x, side="left"), _UNKNOWN_BAND)
    return _BAND_LABELS[band.reshape(-1)].reshape(x.shape)
