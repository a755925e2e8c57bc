"""Tests for features.domains: email domain type and company-size bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.domains import (
    COMPANY_SIZE_BANDS,
    EMAIL_DOMAIN_TYPES,
    company_size_band,
    company_size_bands,
    disposable_email_domains,
    email_domain,
    email_domain_type,
    free_email_domains,
)

# ------------------------------------------------------------------------- domain lists

REQUIRED_FREE = [
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "aol.com",
    "icloud.com", "me.com", "mac.com", "gmx.de", "gmx.net", "web.de", "yandex.ru", "qq.com",
    "163.com", "mail.ru", "protonmail.com", "proton.me", "zoho.com",
]
REQUIRED_DISPOSABLE = [
    "mailinator.com", "guerrillamail.com", "10minutemail.com", "tempmail.com", "yopmail.com",
    "trashmail.com", "sharklasers.com", "maildrop.cc", "temp-mail.org", "getnada.com",
]


def test_lists_are_big_enough_and_disjoint() -> None:
    free, disposable = free_email_domains(), disposable_email_domains()
    assert len(free) >= 150
    assert len(disposable) >= 150
    assert not free & disposable


@pytest.mark.parametrize("name", ["free", "disposable"])
def test_list_entries_are_clean(name: str) -> None:
    domains = free_email_domains() if name == "free" else disposable_email_domains()
    for d in domains:
        assert d == d.strip().lower(), d
        assert "." in d and "#" not in d and " " not in d, d
        assert email_domain(f"user@{d}") == d, d


@pytest.mark.parametrize("email", ["test@test.com", "asdf@asdf.com", "a@example.com"])
def test_placeholder_domains_are_disposable(email: str) -> None:
    assert email_domain_type(email) == "disposable"


def test_lists_are_loaded_once() -> None:
    assert free_email_domains() is free_email_domains()
    assert disposable_email_domains() is disposable_email_domains()


@pytest.mark.parametrize("domain", REQUIRED_FREE)
def test_known_free(domain: str) -> None:
    assert email_domain_type(f"jane.doe@{domain}") == "free"


@pytest.mark.parametrize("domain", REQUIRED_DISPOSABLE)
def test_known_disposable(domain: str) -> None:
    assert email_domain_type(f"x123@{domain}") == "disposable"


# ------------------------------------------------------------------------ email parsing

@pytest.mark.parametrize(
    ("email", "domain", "kind"),
    [
        ("jane@acme.io", "acme.io", "corporate"),
        ("Jane.Doe@Example-Corp.COM", "example-corp.com", "corporate"),
        ("JANE@GMAIL.COM", "gmail.com", "free"),
        ("  jane@gmail.com  ", "gmail.com", "free"),
        ("\tjane@Gmail.Com\n", "gmail.com", "free"),
        ("jane@gmail.com.", "gmail.com", "free"),
        ("Jane Doe <jane@Yahoo.co.uk>", "yahoo.co.uk", "free"),
        ("mailto:jane@proton.me", "proton.me", "free"),
        ("x@mx.mailinator.com", "mx.mailinator.com", "disposable"),
        ("x@a.b.guerrillamail.com", "a.b.guerrillamail.com", "disposable"),
        ("jane@mail.yahoo.com", "mail.yahoo.com", "free"),
        ("jane@notgmail.com", "notgmail.com", "corporate"),  # a suffix is not a parent
        ("jane@gmail.com.evil.io", "gmail.com.evil.io", "corporate"),
        ("jane@co.uk", "co.uk", "corporate"),
        ("jane@münchen.de", "xn--mnchen-3ya.de", "corporate"),
        ("jane+tag@sub.acme.co.uk", "sub.acme.co.uk", "corporate"),
    ],
)
def test_email_domain_and_type(email: str, domain: str, kind: str) -> None:
    assert email_domain(email) == domain
    assert email_domain_type(email) == kind


@pytest.mark.parametrize(
    "email",
    [None, "", "   ", "jane", "jane.gmail.com", "jane@", "@gmail.com", "jane@@gmail.com",
     "a@b@gmail.com", "jane@gmail", "jane@localhost", "jane@.com", "jane@gmail..com",
     "jane@-gmail.com", "jane@gm ail.com", "jane@[127.0.0.1]", "jane@gmail.c",
     "jane@acme.test", "jane@mail.example", "jane@host.invalid", "jane@box.localhost",
     float("nan"), 42, b"jane@gmail.com"],
)
def test_malformed_is_missing(email: object) -> None:
    assert email_domain(email) is None  # type: ignore[arg-type]
    assert email_domain_type(email) == "missing"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_email_arbitrary_text(text: str) -> None:
    kind = email_domain_type(text)
    assert kind in EMAIL_DOMAIN_TYPES
    domain = email_domain(text)
    assert (domain is None) == (kind == "missing")
    if domain is not None:
        assert domain == domain.lower()


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True),
    st.sampled_from(sorted(free_email_domains()) + sorted(disposable_email_domains())),
    st.from_regex(r"([a-z0-9]{1,8}\.){0,2}", fullmatch=True),
    st.booleans(),
)
def test_subdomains_and_case(local: str, domain: str, sub: str, upper: bool) -> None:
    expected = "free" if domain in free_email_domains() else "disposable"
    email = f"{local}@{sub}{domain}"
    assert email_domain_type(email.upper() if upper else email) == expected
    assert email_domain_type(f"  {email}  ") == expected


# -------------------------------------------------------------------------- size bands

EDGES = [
    (0, "1-10"), (1, "1-10"), (10, "1-10"), (10.5, "11-50"), (11, "11-50"), (50, "11-50"),
    (51, "51-200"), (200, "51-200"), (201, "201-1000"), (1000, "201-1000"),
    (1001, "1001-5000"), (5000, "1001-5000"), (5000.5, "5001+"), (5001, "5001+"),
    (250_000, "5001+"), (None, "unknown"), (float("nan"), "unknown"), (-1, "unknown"),
    (-0.5, "unknown"), (float("inf"), "unknown"), (float("-inf"), "unknown"),
    ("120", "51-200"), ("lots", "unknown"), (np.float32(11), "11-50"), (np.int64(5001), "5001+"),
]


@pytest.mark.parametrize(("size", "band"), EDGES, ids=[repr(s) for s, _ in EDGES])
def test_size_band_edges(size: object, band: str) -> None:
    assert company_size_band(size) == band  # type: ignore[arg-type]


def test_size_bands_vectorised_matches_scalar_on_edges() -> None:
    numeric = [s for s, _ in EDGES if s is None or isinstance(s, int | float | np.number)]
    arr = np.array([np.nan if s is None else float(s) for s in numeric])
    out = company_size_bands(arr)
    assert out.shape == arr.shape
    assert out.tolist() == [company_size_band(s) for s in numeric]
    assert set(out.tolist()) <= set(COMPANY_SIZE_BANDS)


def test_size_bands_shapes_and_fallback() -> None:
    grid = np.array([[1.0, 11.0], [np.nan, 6000.0]])
    assert company_size_bands(grid).tolist() == [["1-10", "11-50"], ["unknown", "5001+"]]
    assert company_size_bands(np.array([], dtype=float)).shape == (0,)
    assert company_size_bands(np.float64(42.0)).tolist() == "11-50"
    # Object arrays that do not cast to float fall back to the scalar path.
    mixed = np.array([5, None, "x", 70, 10**400], dtype=object)
    assert company_size_bands(mixed).tolist() == ["1-10", "unknown", "unknown", "51-200",
                                                  "unknown"]
    assert company_size_bands([3, 300]).tolist() == ["1-10", "201-1000"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(min_value=-10, max_value=10**7)), max_size=50))
def test_size_bands_parity(values: list[float | None]) -> None:
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    expected = [company_size_band(v) for v in values]
    assert company_size_bands(arr).tolist() == expected
    assert company_size_bands(np.array(values, dtype=object)).tolist() == expected


def test_nan_is_unknown_not_error() -> None:
    assert math.isnan(float("nan"))
    assert company_size_band(float("nan")) == "unknown"
