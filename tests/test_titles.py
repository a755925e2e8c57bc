"""Tests for features.titles.normalise_title."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.titles import (
    DEPARTMENTS,
    MAX_TITLE_CHARS,
    SENIORITIES,
    _normalise_cached,
    normalise_title,
)

# (title, seniority, department)
TABLE: list[tuple[str, str, str]] = [
    # --- c_level
    ("CEO", "c_level", "executive"),
    ("Chief Executive Officer", "c_level", "executive"),
    ("Founder & CEO", "c_level", "executive"),
    ("Co-Founder", "c_level", "executive"),
    ("Co-Founder & CTO", "c_level", "engineering"),
    ("CTO", "c_level", "engineering"),
    ("Chief Technology Officer", "c_level", "engineering"),
    ("cfo", "c_level", "finance"),
    ("Chief Marketing Officer", "c_level", "marketing"),
    ("CMO", "c_level", "marketing"),
    ("CIO", "c_level", "it"),
    ("CISO", "c_level", "it"),
    ("Chief Revenue Officer", "c_level", "sales"),
    ("COO", "c_level", "operations"),
    ("Chief Product Officer", "c_level", "product"),
    ("Chief Data Officer", "c_level", "data"),
    ("Chief People Officer", "c_level", "hr"),
    ("Chief Customer Officer", "c_level", "customer_success"),
    ("General Counsel", "c_level", "legal"),
    ("Owner", "c_level", "executive"),
    ("Owner/Operator", "c_level", "executive"),
    ("President", "c_level", "executive"),
    ("Presdent & CEO", "c_level", "executive"),
    ("Managing Director", "c_level", "executive"),
    ("Partner", "c_level", "executive"),
    ("Managing Partner", "c_level", "executive"),
    ("Principal", "c_level", "executive"),
    ("Chief of Staff", "c_level", "executive"),
    ("Chairman of the Board", "c_level", "executive"),
    ("CEO & CTO", "c_level", "executive"),
    ("Partner, Tax", "c_level", "finance"),
    ("Geschäftsführer", "c_level", "executive"),
    ("ＣＥＯ", "c_level", "executive"),
    # --- vp
    ("VP, Sales", "vp", "sales"),
    ("Vice President of Marketing", "vp", "marketing"),
    ("Vice-President Finance", "vp", "finance"),
    ("V.P. Engineering", "vp", "engineering"),
    ("SVP, Customer Success", "vp", "customer_success"),
    ("EVP Operations", "vp", "operations"),
    ("Senior VP Engineering", "vp", "engineering"),
    ("Assistant Vice President, IT", "vp", "it"),
    ("AVP Data & Analytics", "vp", "data"),
    ("Vise Presdent, Mktg", "vp", "marketing"),
    ("VP Biz Dev", "vp", "sales"),
    # --- director
    ("Director - IT | EMEA", "director", "it"),
    ("Head of Sales", "director", "sales"),
    ("Head of R&D", "director", "engineering"),
    ("Global Head of Growth", "director", "marketing"),
    ("Head of People", "director", "hr"),
    ("Dir. of Eng", "director", "engineering"),
    ("Sr. Director of Product", "director", "product"),
    ("Associate Director, Legal", "director", "legal"),
    ("Direcor of Markting", "director", "marketing"),
    ("Diretor Comercial", "director", "sales"),
    ("Head of Ops", "director", "operations"),
    ("General Manager", "director", "executive"),
    ("Creative Director", "director", "marketing"),
    ("Associate General Counsel", "director", "legal"),
    # --- manager
    ("Mktg Mgr", "manager", "marketing"),
    ("Biz Dev Manager", "manager", "sales"),
    ("Account Manager", "manager", "customer_success"),
    ("Key Account Manager", "manager", "sales"),
    ("Product Manager", "manager", "product"),
    ("Senior Product Manager", "manager", "product"),
    ("Customer Success Manager", "manager", "customer_success"),
    ("People Ops Manager", "manager", "hr"),
    ("Tech Lead", "manager", "engineering"),
    ("Sales Lead", "manager", "sales"),
    ("Team Lead, Customer Support", "manager", "customer_success"),
    ("IT Supervisor", "manager", "it"),
    ("Finance Maneger", "manager", "finance"),
    ("Manger, Sales Operations", "manager", "sales"),
    ("Mngr, Ops", "manager", "operations"),
    ("Assistant Manager", "manager", "other"),
    ("Partner Marketing Manager", "manager", "marketing"),
    ("Office Manager", "manager", "operations"),
    ("Manager", "manager", "other"),
    # --- senior
    ("Sr.Software Eng.", "senior", "engineering"),
    ("Senior Software Engineer", "senior", "engineering"),
    ("Lead Software Engineer", "senior", "engineering"),
    ("Lead Data Scientist", "senior", "data"),
    ("Staff Engineer", "senior", "engineering"),
    ("Principal Consultant", "senior", "other"),
    ("Senior Counsel", "senior", "legal"),
    ("Snr. Acct Exec", "senior", "sales"),
    ("Network Engineer III", "senior", "it"),
    ("Senoir Analist", "senior", "data"),
    # --- individual
    ("Software Engineer", "individual", "engineering"),
    ("Developer", "individual", "engineering"),
    ("Devloper", "individual", "engineering"),
    ("Full Stack Developer", "individual", "engineering"),
    ("DevOps Engineer", "individual", "engineering"),
    ("Engeneer", "individual", "engineering"),
    ("Enginer", "individual", "engineering"),
    ("Engr", "individual", "engineering"),
    ("Software Engineer @ Salesforce", "individual", "engineering"),
    ("Systems Administrator", "individual", "it"),
    ("IT Support Specialist", "individual", "it"),
    ("Security Engineer", "individual", "it"),
    ("Infrastructure Engineer", "individual", "it"),
    ("Data Scientist", "individual", "data"),
    ("BI Analyst", "individual", "data"),
    ("Analytics Engineer", "individual", "data"),
    ("Marketting Analist", "individual", "marketing"),
    ("SEO Specialist", "individual", "marketing"),
    ("Content Marketer", "individual", "marketing"),
    ("Demand Gen Specialist", "individual", "marketing"),
    ("Brand Strategist", "individual", "marketing"),
    ("Lead Generation Specialist", "individual", "marketing"),
    ("Account Executive", "individual", "sales"),
    ("BDR", "individual", "sales"),
    ("SDR", "individual", "sales"),
    ("Sales Development Rep", "individual", "sales"),
    ("Business Development Representative", "individual", "sales"),
    ("Sales Engineer", "individual", "sales"),
    ("Product Owner", "individual", "product"),
    ("UX Designer", "individual", "product"),
    ("Accountant", "individual", "finance"),
    ("Financial Analyst", "individual", "finance"),
    ("Controller", "individual", "finance"),
    ("Staff Accountant", "individual", "finance"),
    ("Recruiter", "individual", "hr"),
    ("Talent Acquisition Partner", "individual", "hr"),
    ("HR Business Partner", "individual", "hr"),
    ("Customer Support Specialist", "individual", "customer_success"),
    ("Support Engineer", "individual", "customer_success"),
    ("Paralegal", "individual", "legal"),
    ("Legal Counsel", "individual", "legal"),
    ("Compliance Officer", "individual", "legal"),
    ("Operations Analyst", "individual", "operations"),
    ("Supply Chain Analyst", "individual", "operations"),
    ("Internal Auditor", "individual", "finance"),
    ("Consultant", "individual", "other"),
    ("Process Owner", "individual", "other"),
    ("Nurse Manager", "manager", "other"),
    ("Teacher", "individual", "other"),
    ("Freelancer", "individual", "other"),
    ("Self-employed", "individual", "other"),
    ("Freelance Graphic Designer", "individual", "marketing"),
    ("Retired", "individual", "other"),
    ("Retired CFO", "individual", "other"),
    # --- entry
    ("Assistant to the CEO", "entry", "executive"),
    ("Executive Assistant", "entry", "executive"),
    ("Marketing Assistant", "entry", "marketing"),
    ("Marketing Intern", "entry", "marketing"),
    ("Intern - Engineering", "entry", "engineering"),
    ("Jr. Developer", "entry", "engineering"),
    ("Junior Account Executive", "entry", "sales"),
    ("Trainee Accountant", "entry", "finance"),
    ("Graduate Engineer", "entry", "engineering"),
    ("Associate SDR", "entry", "sales"),
    ("Associate Consultant", "entry", "other"),
    ("Entry Level Data Analyst", "entry", "data"),
    ("Student", "entry", "other"),
    ("PhD Student", "entry", "other"),
    ("MBA Candidate", "entry", "other"),
    ("Computer Science Student", "entry", "other"),
    ("Working Student", "entry", "other"),
    ("Unemployed", "entry", "other"),
    # --- unknown
    ("", "unknown", "unknown"),
    ("   ", "unknown", "unknown"),
    ("asdf", "unknown", "unknown"),
    ("-", "unknown", "unknown"),
    ("n/a", "unknown", "unknown"),
    ("N/A", "unknown", "unknown"),
    ("test", "unknown", "unknown"),
    ("Test", "unknown", "unknown"),
    ("xxx", "unknown", "unknown"),
    ("qwerty", "unknown", "unknown"),
    ("😀😀😀", "unknown", "unknown"),
    ("12345", "unknown", "unknown"),
    ("Other", "unknown", "other"),
]


@pytest.mark.parametrize(("title", "seniority", "department"), TABLE, ids=[t[0] or "<empty>" for t in TABLE])
def test_table(title: str, seniority: str, department: str) -> None:
    assert normalise_title(title) == (seniority, department)


def test_table_covers_every_label() -> None:
    assert len(TABLE) >= 60
    assert {s for _, s, _ in TABLE} == set(SENIORITIES)
    assert {d for _, _, d in TABLE} == set(DEPARTMENTS)


@pytest.mark.parametrize(
    "variant",
    ["VP, SALES", "vp sales", "  Vp   -  Sales  ", "V.P. of Sales", "Vice President, Sales",
     "vice-president sales", "Vice President of Sales | EMEA", "VP Sales (NA)"],
)
def test_case_punctuation_and_spacing_variants(variant: str) -> None:
    assert normalise_title(variant) == ("vp", "sales")


@pytest.mark.parametrize(
    "variant",
    ["Software Engineer", "SOFTWARE ENGINEER", "software engineer", "Software Eng.", "SW Engr",
     "Sofware Enginer", "Software Engeneer", "SWE", "Software  Engineer - EMEA"],
)
def test_engineer_variants(variant: str) -> None:
    assert normalise_title(variant) == ("individual", "engineering")


def test_accents_are_stripped() -> None:
    assert normalise_title("Directeur Marketing") == normalise_title("Diréctéur Márketing")
    assert normalise_title("Développeur") == ("individual", "engineering")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # The strongest rank wins.
        ("Senior VP of Sales", ("vp", "sales")),
        ("Senior Director, Marketing", ("director", "marketing")),
        ("VP & Head of Data", ("vp", "data")),
        # "Vice President" is never c_level, whatever "President" alone says.
        ("Vice President", ("vp", "other")),
        # Entry markers override everything.
        ("Intern to the CEO", ("entry", "executive")),
        # Words after "at" name the employer.
        ("Engineer at Sales Force Inc", ("individual", "engineering")),
        # Common words near the vocabulary are not "corrected".
        ("Director of Directory Services", ("director", "other")),
        ("Open Source Engineer", ("individual", "engineering")),
    ],
)
def test_priority_rules(title: str, expected: tuple[str, str]) -> None:
    assert normalise_title(title) == expected


@pytest.mark.parametrize(
    "value", [None, 0, 1.5, float("nan"), b"cto", ["vp"], object(), "x" * 10_000, "é😀" * 5000,
              "\x00\x01\x02", "\u200b\u200b", "CEO " * 5000],
)
def test_odd_input_never_raises(value: object) -> None:
    seniority, department = normalise_title(value)
    assert seniority in SENIORITIES
    assert department in DEPARTMENTS


def test_none_and_bad_str() -> None:
    class Bad:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert normalise_title(None) == ("unknown", "unknown")
    assert normalise_title(Bad()) == ("unknown", "unknown")
    assert normalise_title(b"cto") == ("c_level", "engineering")  # str(b"cto") == "b'cto'"


def test_long_titles_are_truncated() -> None:
    assert normalise_title("CTO" + " x" * 10_000) == ("c_level", "engineering")
    # Anything past MAX_TITLE_CHARS is ignored.
    assert normalise_title(" " * MAX_TITLE_CHARS + "CTO") == ("unknown", "unknown")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    seniority, department = normalise_title(text)
    assert seniority in SENIORITIES
    assert department in DEPARTMENTS
    assert normalise_title(text) == (seniority, department)


_WORDS = ["senior", "sr.", "vp", "vice", "president", "head of", "director", "mgr", "manager",
          "lead", "staff", "principal", "partner", "owner", "assistant", "to", "the", "ceo",
          "intern", "junior", "associate", "chief", "officer", "marketing", "sales", "it",
          "software", "engineer", "data", "product", "ops", "finance", "hr", "legal", "account",
          "customer success", "student", "retired", "freelance", "&", "-", "|", ",", "at", "asdf",
          "Maneger", "Engeneer", "Markting", "Vise", "Presdent", "co-founder", "c.e.o."]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=12), st.sampled_from(["lower", "upper", "title"]))
def test_arbitrary_title_like_text(words: list[str], case: str) -> None:
    title = " ".join(words)
    title = getattr(title, case)()
    seniority, department = normalise_title(title)
    assert seniority in SENIORITIES
    assert department in DEPARTMENTS


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=50),
                 st.lists(st.text(max_size=10), max_size=3)))
def test_arbitrary_objects(value: object) -> None:
    seniority, department = normalise_title(value)
    assert seniority in SENIORITIES
    assert department in DEPARTMENTS


def test_deterministic_with_and_without_cache() -> None:
    titles = [t for t, _, _ in TABLE]
    first = [normalise_title(t) for t in titles]
    _normalise_cached.cache_clear()
    second = [normalise_title(t) for t in titles]
    third = [normalise_title(t) for t in reversed(titles)][::-1]
    assert first == second == third


def test_speed() -> None:
    titles = [f"{t} {i}" for i in range(50) for t, _, _ in TABLE]
    _normalise_cached.cache_clear()
    t0 = time.perf_counter()
    for t in titles:
        normalise_title(t)
    uncached = (time.perf_counter() - t0) / len(titles)
    t0 = time.perf_counter()
    for t in titles:
        normalise_title(t)
    cached = (time.perf_counter() - t0) / len(titles)
    # Generous bounds (shared CI machines); typical figures are ~10 µs and ~0.2 µs.
    assert uncached < 500e-6
    assert cached < 20e-6
