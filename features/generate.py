"""Synthetic B2B funnel generator: the embedded default data set.

A generative model of a B2B funnel (prospect → lead → qualified lead → customer) that
writes the four contract tables (``leads``, ``events``, ``identities``, ``outcomes``) the
way a CRM export would look, plus an *oracle* frame with the latent variables and the true
probabilities, so that model quality can be compared with the best possible score.

The latent variables (``fit``, ``intent``, seniority, department, true company size, the
person behind a lead) are written only to the oracle; the tables carry what a real system
observes: free-text job titles, e-mail addresses, events under cookies and devices, identity
links and censored outcome times.

Model, per lead with creation time ``c`` and age ``t`` (days):

- engagement intensity ``λ(t) = exp(intent)·A·exp(-t/τ) + floor``; events of type ``k`` occur
  at rate ``m_k·exp(β_k·intent)·λ(t)`` (e-mail opens follow campaign sends instead);
- qualification hazard ``h(t) = c_q·λ(t)`` with ``c_q = exp(b0 + b_fit·fit) / NORM``, so the
  cumulative hazard ``H(t) = c_q·(exp(intent)·A·τ·(1 - exp(-t/τ)) + floor·t)`` is closed-form;
- after qualification, a win with probability ``sigmoid(a0 + a_fit·fit + a_int·intent)``
  after an Erlang(3) delay whose mean grows with company size.

Events never depend on the realised outcome times, only on the latent intent that also
drives the hazard, so the oracle is a true ceiling for any model on the observable tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import EVENT_TYPES, TIME_DTYPE, Tables, write_frame, write_tables

DAY_US = 86_400_000_000

# ----------------------------------------------------------------------------- vocabularies
SENIORITIES = ("c_level", "vp", "director", "manager", "senior", "individual", "entry")
SENIORITY_P = (0.05, 0.07, 0.12, 0.19, 0.17, 0.28, 0.12)
SENIORITY_FIT = (1.0, 0.9, 0.7, 0.35, 0.0, -0.3, -0.9)
DEPARTMENTS = (
    "executive", "marketing", "sales", "engineering", "it", "product", "data", "operations",
    "finance", "hr", "customer_success", "legal", "other",
)
DEPARTMENT_P = (0.03, 0.2, 0.14, 0.12, 0.1, 0.06, 0.07, 0.07, 0.05, 0.04, 0.04, 0.02, 0.06)
DEPARTMENT_FIT = (0.3, 0.6, 0.6, 0.0, 0.1, 0.2, 0.4, 0.2, -0.3, -0.6, 0.1, -0.7, -0.6)
# Buying authority: seniority counts in full only in the departments that buy (a VP of
# Marketing signs; a VP of HR rarely does for this product).
DEPARTMENT_AUTHORITY = (1.0, 1.0, 1.0, 0.4, 0.7, 0.6, 0.6, 0.5, 0.3, 0.1, 0.4, 0.1, 0.2)
INDUSTRIES = (
    "Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education",
    "Government", "Media", "Telecommunications", "Consulting", "E-commerce", "Non-profit",
)
INDUSTRY_P = (0.18, 0.1, 0.1, 0.1, 0.08, 0.07, 0.04, 0.06, 0.05, 0.1, 0.08, 0.04)
INDUSTRY_FIT = (0.5, 0.3, 0.0, -0.1, 0.1, -0.4, -0.6, 0.1, 0.1, 0.2, 0.3, -0.5)
# Ideal customer profile: the sweet-spot company size (log10 employees) differs by industry.
INDUSTRY_SIZE_PEAK = (2.5, 3.3, 3.0, 3.2, 3.5, 2.8, 3.5, 2.3, 3.6, 2.0, 2.2, 2.0)
COUNTRIES = ("US", "GB", "DE", "CA", "FR", "AU", "NL", "IN", "BR", "JP", "ES", "SE", "SG",
             "MX", "PL")
COUNTRY_P = (0.4, 0.09, 0.08, 0.05, 0.05, 0.04, 0.03, 0.06, 0.04, 0.03, 0.03, 0.02, 0.02,
             0.03, 0.03)
COUNTRY_FIT = (0.3, 0.3, 0.3, 0.3, 0.0, 0.3, 0.3, -0.4, -0.4, 0.0, 0.0, 0.3, 0.0, -0.4, -0.4)
EMAIL_TYPES = ("corporate", "free", "disposable", "missing")
EMAIL_TYPE_P = (0.58, 0.3, 0.025, 0.095)
EMAIL_FIT = (0.4, -0.3, -1.2, -0.5)
FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com",
             "gmx.de", "web.de", "yandex.ru", "qq.com", "mail.ru", "protonmail.com")
FREE_MAIL_P = (0.45, 0.1, 0.09, 0.1, 0.03, 0.06, 0.04, 0.03, 0.02, 0.02, 0.02, 0.04)
DISPOSABLE_MAIL = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "tempmail.com",
                   "yopmail.com", "trashmail.com")
CHANNELS = ("organic_search", "paid_search", "paid_social", "email", "referral", "events",
            "webinar", "direct", "partner", "content_syndication")
CHANNEL_P = (0.22, 0.15, 0.12, 0.1, 0.07, 0.07, 0.07, 0.1, 0.04, 0.06)
CHANNEL_INTENT = (0.0, 0.3, -0.3, 0.0, 0.4, 0.15, 0.3, 0.1, 0.1, -0.45)
CHANNEL_COST = ((1.0, 0.8), (85.0, 0.25), (45.0, 0.35), (6.0, 0.5), (40.0, 0.4),
                (150.0, 0.35), (35.0, 0.35), (0.5, 0.8), (100.0, 0.3), (60.0, 0.2))
CAMPAIGNS: tuple[tuple[str, ...], ...] = (
    (), ("brand-search", "competitor-search", "generic-lead-scoring", "retargeting-search"),
    ("linkedin-abm", "linkedin-lead-gen", "facebook-retargeting"),
    ("newsletter", "nurture-track", "reactivation"), ("customer-referral", "g2-profile"),
    ("saas-summit", "martech-expo", "roadshow"), ("ml-scoring-webinar", "pipeline-webinar"),
    (), ("partner-co-marketing", "reseller-program"),
    ("techtarget-syndication", "ebook-syndication"),
)
FIRST = ("james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda",
         "william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica",
         "thomas", "sarah", "charles", "karen", "daniel", "nancy", "matthew", "lisa", "anthony",
         "priya", "rahul", "wei", "li", "yuki", "hiroshi", "lukas", "anna", "sophie", "maximilian",
         "lea", "pierre", "camille", "lucas", "julia", "mateo", "sofia", "olivia", "noah",
         "emma", "liam", "ava", "ethan", "mia", "arjun")
LAST = ("smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
        "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas",
        "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris",
        "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king",
        "wright", "scott", "patel", "sharma", "wang", "zhang", "chen", "tanaka", "suzuki",
        "mueller", "schmidt", "schneider", "fischer", "dubois", "moreau", "silva", "santos",
        "kowalski", "nowak", "andersson", "johansson", "dejong", "jansen", "rossi", "kim", "singh")
NAME_A = ("Acme", "Blue", "North", "Bright", "Iron", "Silver", "Nova", "Apex", "Summit", "Vertex",
          "Pioneer", "Quantum", "Cedar", "Harbor", "Atlas", "Orbit", "Vector", "Lumen", "Granite",
          "Evergreen", "Redwood", "Falcon", "Beacon", "Keystone", "Meridian", "Zenith", "Horizon",
          "Sterling", "Cobalt", "Sapphire", "Polar", "Urban", "Global", "Prime", "Fusion", "Nimbus",
          "Stellar", "Vivid", "Clear", "Swift", "Bold", "True", "Open", "Smart", "Green", "Coastal",
          "Metro", "Alpine", "Delta", "Omega", "Signal", "Pixel", "Cloud", "Core", "Bridge",
          "River", "Stone", "Oak", "Maple", "Echo")
NAME_B = ("", "", "", "", "Rock", "Wave", "Point", "Field", "Gate", "Line", "Path", "Peak",
          "Star", "Leaf", "Light", "Sky", "Bay", "Hill", "Forge", "Mind")
NAME_C = ("Analytics", "Systems", "Labs", "Software", "Solutions", "Technologies", "Logistics",
          "Health", "Capital", "Media", "Networks", "Works", "Dynamics", "Partners", "Group",
          "Foods", "Energy", "Retail", "Robotics", "Bio", "Consulting", "Security", "Learning",
          "Studios", "Commerce", "Motors", "Insights", "Ventures", "Supply", "Design")

DEPT_NAMES: dict[str, tuple[str, ...]] = {
    "executive": ("Executive", "General Management", "Strategy"),
    "marketing": ("Marketing", "Digital Marketing", "Demand Generation", "Growth",
                  "Marketing Operations", "Brand", "Mktg"),
    "sales": ("Sales", "Business Development", "Revenue", "Inside Sales", "Sales Operations",
              "Account Management"),
    "engineering": ("Engineering", "Software Engineering", "Platform Engineering", "R&D",
                    "Development"),
    "it": ("IT", "Information Technology", "IT Infrastructure", "Infrastructure",
           "IT Operations"),
    "product": ("Product", "Product Management", "Product Marketing"),
    "data": ("Data", "Analytics", "Data Science", "Business Intelligence", "BI",
             "Data Engineering"),
    "operations": ("Operations", "Business Operations", "Ops", "Supply Chain"),
    "finance": ("Finance", "Accounting", "FP&A", "Controlling"),
    "hr": ("HR", "Human Resources", "People", "Talent Acquisition", "People Operations"),
    "customer_success": ("Customer Success", "Customer Experience", "Client Services",
                         "Support"),
    "legal": ("Legal", "Compliance", "Legal Affairs"),
    "other": ("Facilities", "Procurement", "Research", "Administration", "Communications"),
}
ROLES: dict[str, tuple[str, ...]] = {
    "executive": ("Executive Assistant", "Strategy Analyst", "Office Manager"),
    "marketing": ("Marketing Specialist", "Marketing Coordinator", "Content Marketer",
                  "SEO Specialist", "Marketing Analyst", "Growth Marketer"),
    "sales": ("Account Executive", "Sales Representative", "SDR", "Sales Development Rep", "BDR",
              "Account Manager"),
    "engineering": ("Software Engineer", "Developer", "Software Developer", "Backend Engineer",
                    "Full Stack Developer", "DevOps Engineer"),
    "it": ("Systems Administrator", "IT Specialist", "Network Engineer", "Sysadmin",
           "IT Support Specialist"),
    "product": ("Product Manager", "Product Owner", "Product Designer", "UX Designer"),
    "data": ("Data Analyst", "Data Scientist", "Data Engineer", "BI Analyst",
             "Analytics Engineer"),
    "operations": ("Operations Analyst", "Operations Specialist", "Project Coordinator",
                   "Ops Associate"),
    "finance": ("Accountant", "Financial Analyst", "Controller", "Bookkeeper"),
    "hr": ("Recruiter", "HR Generalist", "Talent Partner", "HR Specialist"),
    "customer_success": ("Customer Success Manager", "Support Engineer", "Account Specialist",
                         "CSM"),
    "legal": ("Paralegal", "Counsel", "Legal Counsel", "Compliance Analyst"),
    "other": ("Consultant", "Researcher", "Administrator", "Coordinator", "Assistant"),
}
C_TITLES: dict[str, tuple[str, ...]] = {
    "executive": ("CEO", "Chief Executive Officer", "Founder & CEO", "Co-Founder", "Founder",
                  "Owner", "President", "Managing Director", "Co-founder & CEO", "Owner/Operator"),
    "marketing": ("CMO", "Chief Marketing Officer"),
    "sales": ("CRO", "Chief Revenue Officer", "Chief Sales Officer"),
    "engineering": ("CTO", "Chief Technology Officer", "Co-Founder & CTO"),
    "it": ("CIO", "Chief Information Officer", "CISO"),
    "product": ("CPO", "Chief Product Officer"),
    "data": ("CDO", "Chief Data Officer", "Chief Analytics Officer"),
    "operations": ("COO", "Chief Operating Officer"),
    "finance": ("CFO", "Chief Financial Officer"),
    "hr": ("CHRO", "Chief People Officer", "Chief Human Resources Officer"),
    "customer_success": ("Chief Customer Officer", "CCO"),
    "legal": ("General Counsel", "Chief Legal Officer"),
    "other": ("Chief of Staff", "Partner", "Principal"),
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "vp": ("VP {d}", "VP of {d}", "Vice President, {d}", "Vice President of {d}", "SVP {d}",
           "SVP, {d}", "EVP {d}", "VP, {d}", "V.P. {d}", "Head of {d}", "Global Head of {d}",
           "Vice-President {d}"),
    "director": ("Director of {d}", "{d} Director", "Director, {d}", "Dir. {d}", "Dir of {d}",
                 "Senior Director, {d}", "Sr. Director of {d}", "Director - {d}",
                 "Associate Director {d}"),
    "manager": ("{d} Manager", "Manager, {d}", "{d} Mgr", "Manager of {d}", "Sr. {d} Manager",
                "Senior {d} Manager", "{d} Team Lead", "{d} Lead", "Mgr. {d}"),
    "senior": ("Senior {r}", "Sr. {r}", "Sr {r}", "Lead {r}", "Principal {r}", "Staff {r}",
               "{r} III"),
    "individual": ("{r}", "{r} II", "{d} Specialist", "{d} Analyst", "{d} Associate", "{r} I"),
    "entry": ("Junior {r}", "Jr. {r}", "Jr {r}", "{d} Intern", "Intern", "Intern - {d}",
              "Associate {r}", "{d} Assistant", "Graduate {r}", "Trainee", "Working Student"),
}
SPECIAL_TITLES = {
    ("individual", "other"): ("Freelancer", "Freelance Consultant", "Self-employed",
                              "Independent Consultant", "Retired"),
    ("entry", "other"): ("Student", "MBA Candidate", "PhD Student", "Unemployed"),
}
TYPOS = (("Manager", "Maneger"), ("Engineer", "Engeneer"), ("Director", "Direcor"),
         ("Marketing", "Markting"), ("Senior", "Senoir"), ("Analyst", "Analist"))
REGIONS = (" | EMEA", " - EMEA", ", APAC", " (NA)", " - North America", " DACH", " | US",
           ", LATAM", " - Global")
JUNK_EMAILS = ("test@test.com", "asdf@asdf.com", "test@example.com", "a@a.com", "x@x.com")
JUNK_TEXT = ("asdf", "test", "Test", "xxx", "n/a", "-", "qwerty")

# Event streams: (type, m_k, beta_k, identifier kind). Kinds: "device" (cookie or mobile
# device of the person), "email" (the lead's e-mail, else its lead_id), "demo" (web form on a
# device, or logged in the CRM under the lead_id).
STREAMS = (
    ("page_view", 0.28, 0.5, "device"),
    ("pricing_page_view", 0.014, 1.0, "device"),
    ("content_download", 0.028, 0.7, "device"),
    ("webinar_registered", 0.01, 0.8, "email"),
    ("email_click", 0.035, 0.7, "email"),
    ("demo_request", 0.003, 1.0, "demo"),
    ("trial_signup", 0.002, 1.0, "email"),
    ("chat_started", 0.003, 0.5, "device"),
    ("video_played", 0.002, 0.0, "device"),
)
ALL_TYPES = (*EVENT_TYPES, "chat_started", "video_played")
EV_CHANNELS = ("web", "email", "event", "product")
DEVICE_TYPES = ("desktop", "mobile", "tablet")
PROPERTIES: dict[str, tuple[str, ...]] = {
    "page_view": ("/", "/product", "/features/scoring", "/features/integrations", "/customers",
                  "/blog/lead-scoring-101", "/blog/b2b-funnel-metrics", "/blog/intent-data",
                  "/about", "/careers", "/docs/getting-started", "/security", "/partners"),
    "pricing_page_view": ("/pricing", "/pricing/enterprise", "/pricing#faq", "/pricing/compare"),
    "content_download": ("eBook: The B2B Lead Scoring Playbook",
                         "Report: State of Demand Gen 2024", "Whitepaper: Predictive Scoring ROI",
                         "Checklist: CRM Data Hygiene", "Case study: Acme Analytics"),
    "webinar_registered": ("Webinar: Scoring Leads with ML", "Webinar: Pipeline Forecasting 101",
                           "Webinar: From MQL to SQL", "Webinar: Product Tour"),
    "email_open": ("Newsletter", "Product update", "Webinar invite", "Case study", "Nurture #1",
                   "Nurture #2", "Nurture #3"),
    "email_click": ("Newsletter", "Product update", "Webinar invite", "Case study", "Nurture #1"),
    "demo_request": ("/demo", "/contact-sales", "CRM: demo booked"),
    "trial_signup": ("trial: team plan", "trial: pro plan"),
    "form_submit": ("form: contact-us", "form: ebook download", "form: webinar registration",
                    "form: newsletter"),
    "chat_started": ("chat: pricing question", "chat: support"),
    "video_played": ("video: product overview", "video: customer story"),
}
PROPERTIES["webinar_attended"] = PROPERTIES["webinar_registered"]

# Outcome model constants (tuned for ~18% observed qualification and ~5% acquisition).
AMPLITUDE = 1.0  # A: engagement at creation for intent 0, per day
FLOOR = 0.02  # floor: long-run engagement, per day
HAZARD_NORM = 25.0  # E-normaliser: E[exp(intent)]·A·E[τ]
B0, B_FIT, FIT_GATE = -0.95, 3.0, 0.6
A0, A_FIT, A_INT = -3.4, 3.0, 0.5
DELAY_SHAPE = 3.0


def _choice(rng: np.random.Generator, p: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    """Codes 0..len(p)-1 drawn with probabilities ``p`` (renormalised)."""
    w = np.asarray(p, dtype=float)
    return rng.choice(len(w), size=size, p=w / w.sum())


def _str(vocab: Sequence[str] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """A ``str`` Series of ``vocab[codes]`` (negative codes become missing), built in Arrow."""
    arr = pa.array(np.asarray(vocab, dtype=object), type=pa.string(), from_pandas=True)
    codes = np.asarray(codes, dtype=np.int64)
    taken = arr.take(pa.array(codes, mask=codes < 0))
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    return pd.Series(taken.to_pandas(types_mapper={pa.string(): dtype}.get), dtype=dtype)


def _hex_ids(rng: np.random.Generator, prefixes: Sequence[tuple[str, int]]) -> np.ndarray:
    """Distinct random ids like ``ck_3f9a0c12be07``: ``count`` ids per ``(prefix, count)``."""
    total = sum(k for _, k in prefixes)
    x = rng.integers(0, 1 << 48, total, dtype=np.uint64)
    while True:  # redraw the (rare) repeats so that every id is unique
        _, first = np.unique(x, return_index=True)
        dup = np.setdiff1d(np.arange(total), first)
        if len(dup) == 0:
            break
        x[dup] = rng.integers(0, 1 << 48, len(dup), dtype=np.uint64)
    shifts = np.arange(44, -1, -4, dtype=np.uint64)
    digits = ((x[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[digits]
    body = np.ascontiguousarray(chars).view("S12").ravel().astype(str)
    prefix = np.repeat(np.array([p for p, _ in prefixes]), [k for _, k in prefixes])
    return np.char.add(prefix, body).astype(object)


def _to_time(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).astype(TIME_DTYPE)


def _dedupe(s: pd.Series, local: pd.Series) -> pd.Series:
    """Make addresses ``local@domain`` unique by numbering repeated ones (``anna.lee2@``)."""
    n = s.groupby(s, sort=False).cumcount().to_numpy()
    extra = pd.Series(np.where(n > 0, n + 1, 0).astype(str), index=s.index).replace("0", "")
    return local + extra


# ------------------------------------------------------------------------------ attributes
def _companies(rng: np.random.Generator, n: int) -> dict[str, Any]:
    size = np.clip(np.rint(rng.lognormal(4.0, 2.0, n)), 1, 200_000)
    country = _choice(rng, COUNTRY_P, n)
    a, b, c = (rng.integers(0, len(v), n) for v in (NAME_A, NAME_B, NAME_C))
    name = (_str(NAME_A, a) + " " + _str(NAME_B, b) + " " + _str(NAME_C, c)).str.replace(
        "  ", " "
    )
    slug = name.str.lower().str.replace(" ", "")
    slug = slug.where(rng.random(n) < 0.7, (_str(NAME_A, a) + _str(NAME_B, b)).str.lower())
    cc = _str(COUNTRIES, country)
    tld = pd.Series(np.full(n, ".com", dtype=object), dtype="str")
    tld = tld.where(~((cc == "GB") & (rng.random(n) < 0.5)), ".co.uk")
    tld = tld.where(~(cc.isin(["DE", "FR", "NL", "SE", "PL", "ES"]) & (rng.random(n) < 0.6)),
                    "." + cc.str.lower())
    tld = tld.where(rng.random(n) > 0.06, ".io")
    slug = _dedupe(slug + tld, slug)
    legal = pd.Series(np.full(n, "", dtype=object), dtype="str")
    u = rng.random(n)
    legal = legal.where(~((cc == "US") & (u < 0.3)), " Inc.")
    legal = legal.where(~((cc == "GB") & (u < 0.4)), " Ltd")
    legal = legal.where(~((cc == "DE") & (u < 0.5)), " GmbH")
    return {
        "size": size, "industry": _choice(rng, INDUSTRY_P, n), "country": country,
        "name": (name + legal).to_numpy(dtype=object), "domain": (slug + tld).to_numpy(dtype=object),
    }


def _titles(rng: np.random.Generator, sen: np.ndarray, dep: np.ndarray) -> pd.Series:
    """Free-text job titles rendered from seniority and department, with realistic noise."""
    out = np.empty(len(sen), dtype=object)
    for si, s in enumerate(SENIORITIES):
        for di, d in enumerate(DEPARTMENTS):
            rows = np.flatnonzero((sen == si) & (dep == di))
            if len(rows) == 0:
                continue
            if s == "c_level":
                cands = list(C_TITLES[d])
            else:
                cands = [
                    t.format(d=dn, r=r) for t in TEMPLATES[s] for dn in DEPT_NAMES[d]
                    for r in (ROLES[d] if "{r}" in t else ROLES[d][:1])
                ]
                cands = list(dict.fromkeys(cands))
            w = 1.0 / np.arange(1, len(cands) + 1) ** 0.6
            special = SPECIAL_TITLES.get((s, d), ())
            if special:  # students, freelancers, retired: a fixed share of the combination
                w = np.concatenate([w / w.sum() * 0.6, np.full(len(special), 0.4 / len(special))])
                cands += special
            out[rows] = np.asarray(cands, dtype=object)[_choice(rng, w, len(rows))]
    t = pd.Series(out, dtype="str")
    u = rng.random((5, len(t)))
    for a, b in TYPOS:
        t = t.where(u[0] > 0.06, t.str.replace(a, b, regex=False))
    t = t.where(u[1] > 0.07, t + _str(REGIONS, rng.integers(0, len(REGIONS), len(t))))
    t = t.where(u[2] > 0.07, t.str.upper())
    t = t.where((u[2] <= 0.07) | (u[2] > 0.14), t.str.lower())
    t = t.where(u[3] > 0.03, "  " + t.str.replace(" ", "  ", n=1) + " ")
    return t.where(u[4] > 0.07)


def _email_addresses(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, etype: np.ndarray,
    domain: np.ndarray,
) -> pd.Series:
    n = len(first)
    f, la = _str(FIRST, first), _str(LAST, last)
    num = pd.Series(rng.integers(1, 99, n).astype(str), dtype="str")
    form = rng.integers(0, 4, n)
    corp = f + "." + la
    corp = corp.where(form != 1, f.str.slice(0, 1) + la).where(form != 2, f)
    corp = corp.where(form != 3, f + "_" + la)
    free = (f + "." + la).where(form % 2 == 0, f + la + num)
    local = corp.where(etype == 0, free)
    dom = pd.Series(np.asarray(domain, dtype=object), dtype="str")
    dom = dom.where(etype == 0, _str(FREE_MAIL, _choice(rng, FREE_MAIL_P, n)))
    dom = dom.where(etype != 2, _str(DISPOSABLE_MAIL, rng.integers(0, len(DISPOSABLE_MAIL), n)))
    local = _dedupe(local + "@" + dom, local)
    return (local + "@" + dom).where(etype != 3)


# -------------------------------------------------------------------------------- generate
def generate(
    n_leads: int,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 365,
    progress: Callable[[str], None] | None = None,
) -> tuple[Tables, pd.DataFrame]:
    """Generate a synthetic B2B funnel.

    Parameters
    ----------
    n_leads : int
        Number of leads (rows of ``leads``), including duplicates and junk.
    seed : int
        Seed of ``np.random.default_rng``; identical arguments give identical output.
    start : str
        First creation day (ISO date); leads are created over ``[start, start + days)``.
    days : int
        Length of the creation period; ``observed_until = start + days`` is the export time
        and nothing at or after it appears in the tables.
    progress : callable, optional
        Called with a short message at each stage.

    Returns
    -------
    tables : Tables
        ``leads``, ``events``, ``identities``, ``outcomes`` in contract types.
    oracle : pandas.DataFrame
        One row per lead with the latent variables and the true probabilities
        ``p_qualified_30d`` and ``p_acquired_90d`` at creation. Never a feature.
    """
    if n_leads < 1 or days < 1:
        raise ValueError("n_leads and days must be positive")
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    start_us = int(pd.Timestamp(start).value // 1000)
    end_us = start_us + days * DAY_US
    n = int(n_leads)
    n_junk = round(0.03 * n) if n >= 40 else 0
    n_dup = round(0.03 * n) if n >= 40 else 0
    n_people = n - n_junk - n_dup

    say(f"companies ({max(10, int(0.3 * n_people)):,})")
    comp = _companies(rng, max(10, int(0.3 * n_people)))

    say(f"people ({n_people:,})")
    company = _choice(rng, np.sqrt(comp["size"]), n_people)
    csize = comp["size"][company]
    sen = _choice(rng, SENIORITY_P, n_people)
    dep = _choice(rng, DEPARTMENT_P, n_people)
    founder = (csize <= 10) & (rng.random(n_people) < 0.25)
    sen[founder] = 0
    dep[(sen == 0) & (founder | (rng.random(n_people) < 0.4))] = 0
    etype = _choice(rng, EMAIL_TYPE_P, n_people)
    first, last = rng.integers(0, len(FIRST), n_people), rng.integers(0, len(LAST), n_people)
    z_intent = rng.standard_normal(n_people)
    fit_noise = rng.normal(0.0, 0.1, n_people)
    has_ck2 = rng.random(n_people) < 0.35
    ck2_tablet = rng.random(n_people) < 0.3
    has_dv = rng.random(n_people) < 0.55

    # Lead episodes: one per person, a second one for ~3% of people, plus junk leads.
    day_w = np.where((np.arange(days) + pd.Timestamp(start).dayofweek) % 7 >= 5, 0.35, 1.0)
    def created_days(k: int) -> np.ndarray:
        t = _choice(rng, day_w, k) + (rng.normal(14.5, 3.5, k) % 24) / 24
        return np.minimum(t, days - 1e-6)
    c_first = created_days(n_people)
    eligible = np.flatnonzero(c_first < days - 14)
    dup_person = rng.choice(eligible, size=min(n_dup, len(eligible)), replace=False)
    n_dup = len(dup_person)
    n_junk = n - n_people - n_dup
    c_dup = c_first[dup_person] + 7 + rng.random(n_dup) * (days - 7 - c_first[dup_person])
    dup_kind = rng.integers(1, 4, n_dup)  # 1 same e-mail, 2 new e-mail + crm_merge, 3 same cookie
    person = np.concatenate([np.arange(n_people), dup_person, np.full(n_junk, -1)])
    kind = np.concatenate([np.zeros(n_people, int), dup_kind, np.full(n_junk, -1)])
    c_days = np.concatenate([c_first, c_dup, created_days(n_junk)])
    order = np.argsort(c_days, kind="stable")
    person, kind, c_days = person[order], kind[order], c_days[order]
    junk = person < 0
    p = np.where(junk, 0, person)
    created_us = start_us + np.floor(c_days * DAY_US).astype(np.int64)
    lead_id = np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 8)).astype(object)

    # E-mail identities: primary per person, a second (free-mail) one for kinds 2 and 3.
    second = kind >= 2
    n_sec = int(second.sum())
    all_first = np.concatenate([first, first[p[second]]])
    all_last = np.concatenate([last, last[p[second]]])
    all_type = np.concatenate([etype, np.ones(n_sec, int)])
    all_dom = np.concatenate([comp["domain"][company], comp["domain"][company[p[second]]]])
    addresses = _email_addresses(rng, all_first, all_last, all_type, all_dom).to_numpy(
        dtype=object
    )
    email_slot = p.copy()
    email_slot[second] = n_people + np.arange(n_sec)
    lead_etype = np.where(second, 1, etype[p])
    lead_email = addresses[email_slot].copy()
    jm = rng.random(n_junk)
    junk_mail = np.where(
        jm < 0.6, np.asarray(JUNK_EMAILS, dtype=object)[rng.integers(0, len(JUNK_EMAILS), n_junk)],
        np.char.add(np.char.add("x", rng.integers(1000, 99999, n_junk).astype(str)), "@")
        .astype(object) + np.asarray(DISPOSABLE_MAIL, dtype=object)[rng.integers(0, 6, n_junk)],
    )
    lead_email[junk] = junk_mail
    lead_etype[junk] = np.where(jm < 0.6, 1, 2)
    lead_has_email = pd.notna(lead_email)

    # Leads table: observable attributes, with missing values and dirt.
    chan = _choice(rng, CHANNEL_P, n)
    intent = np.asarray(CHANNEL_INTENT)[chan] + 0.95 * z_intent[p]
    lc = company[p]
    ts = pd.DatetimeIndex(_to_time(created_us))
    quarter = pd.Series(ts.year.astype(str) + "-q" + ts.quarter.astype(str), dtype="str")
    slug_code = np.full(n, -1)
    slugs: list[str] = []
    for ci, names in enumerate(CAMPAIGNS):
        rows = np.flatnonzero(chan == ci)
        if names:
            slug_code[rows] = len(slugs) + rng.integers(0, len(names), len(rows))
            slugs.extend(names)
    campaign = quarter + "-" + _str(slugs, slug_code)
    med = np.array([m for m, _ in CHANNEL_COST])[chan]
    sd = np.array([s for _, s in CHANNEL_COST])[chan]
    cost = np.round(med * np.exp(sd * rng.standard_normal(n)), 2)
    mag = 10.0 ** np.maximum(np.floor(np.log10(csize[p])) - 1, 0)
    size_shown = np.where(rng.random(n) < 0.3, np.round(csize[p] / mag) * mag, csize[p])
    u = rng.random((6, n))
    junk_txt = _str(JUNK_TEXT, rng.integers(0, len(JUNK_TEXT), n))
    leads = pd.DataFrame({
        "lead_id": pd.Series(lead_id, dtype="str"),
        "created_at": _to_time(created_us),
        "email": pd.Series(lead_email, dtype="str"),
        "job_title": _titles(rng, sen[p], dep[p]).where(~junk, junk_txt.where(u[0] < 0.7)),
        "company_name": pd.Series(comp["name"][lc], dtype="str").where(u[1] > 0.03)
        .where(~junk, junk_txt.where(u[0] < 0.5)),
        "company_domain": pd.Series(comp["domain"][lc], dtype="str")
        .where((lead_etype == 0) | (u[2] > 0.3)).where(~junk),
        "company_size": np.where((u[3] > 0.08) & ~junk, size_shown, np.nan),
        "industry": _str(INDUSTRIES, np.where((u[4] > 0.06) & ~junk, comp["industry"][lc], -1)),
        "country": _str(COUNTRIES, np.where((u[5] > 0.05) & ~junk, comp["country"][lc], -1)),
        "source_channel": _str(CHANNELS, chan),
        "campaign": campaign,
        "acquisition_cost": cost,
    })

    # Latent fit: attributes explain most of it.
    lsize = np.log10(csize[p])
    peak = np.asarray(INDUSTRY_SIZE_PEAK)[comp["industry"][lc]]
    fit = (
        np.asarray(SENIORITY_FIT)[sen[p]] * np.asarray(DEPARTMENT_AUTHORITY)[dep[p]]
        + np.asarray(DEPARTMENT_FIT)[dep[p]]
        + np.maximum(0.6 - 0.35 * (lsize - peak) ** 2, -1.2)
        + np.asarray(INDUSTRY_FIT)[comp["industry"][lc]]
        + np.asarray(COUNTRY_FIT)[comp["country"][lc]]
        + np.asarray(EMAIL_FIT)[lead_etype] + fit_noise[p]
    )
    fit[junk] = -4.0
    tau = rng.uniform(10.0, 20.0, n)
    amp = np.exp(intent) * AMPLITUDE
    L = (end_us - created_us) / DAY_US  # days observed

    say("events")
    # Identifier vocabulary: lead ids, e-mails, person cookies/devices, extra cookies, kiosks.
    n_extra = int((kind == 2).sum())
    n_shared = max(1, round(n / 2000))
    ids = _hex_ids(rng, [("ck_", 2 * n_people + n_extra), ("dv_", n_people + n_shared)])
    vocab = np.concatenate([lead_id, addresses, ids])  # cookies, then devices
    o_mail = n
    o_ck1 = o_mail + len(addresses)
    o_ck2 = o_ck1 + n_people
    o_ckx = o_ck2 + n_people
    o_dv = o_ckx + n_extra
    o_kiosk = o_dv + n_people
    id_email = np.where(lead_has_email & ~junk, o_mail + email_slot, np.arange(n))
    slot0 = o_ck1 + p
    slot0[kind == 2] = o_ckx + np.arange(n_extra)
    slots = np.stack([slot0, o_ck2 + p, o_dv + p], axis=1)
    avail = np.stack([np.ones(n, bool), has_ck2[p], has_dv[p]], axis=1)
    cum = np.cumsum(avail * np.array([0.55, 0.2, 0.25]), axis=1)
    cum /= cum[:, -1:]
    slot_dev = np.stack([np.zeros(n, int), np.where(ck2_tablet[p], 2, 0), np.ones(n, int)], 1)
    real = ~junk

    parts: list[tuple[np.ndarray, ...]] = []  # (time_us, type, identifier, channel, device, prop)

    def add(i: np.ndarray, t_us: np.ndarray, typ: str, kind_: str) -> None:
        k = len(i)
        chan_ = np.zeros(k, np.int64)
        dev = rng.choice(3, k, p=[0.55, 0.4, 0.05])
        if kind_ == "device" or kind_ == "demo":
            s = (rng.random(k)[:, None] > cum[i]).sum(axis=1)
            ident = slots[i, s]
            dev = slot_dev[i, s]
            if kind_ == "demo":
                crm = rng.random(k) < 0.4
                ident = np.where(crm, i, ident)
                dev = np.where(crm, -1, dev)
        else:
            ident = id_email[i]
            chan_[:] = {"email_open": 1, "email_click": 1, "trial_signup": 3}.get(typ, 2)
            if typ == "trial_signup":
                dev[:] = 0
        props = PROPERTIES[typ]
        parts.append((t_us, np.full(k, ALL_TYPES.index(typ)), ident, chan_, dev,
                      np.full(k, ALL_TYPES.index(typ) * 100) + rng.integers(0, len(props), k)))

    def at(i: np.ndarray, t_days: np.ndarray) -> np.ndarray:
        return created_us[i] + np.floor(t_days * DAY_US).astype(np.int64)

    idx = np.arange(n)
    reg_i = reg_t = np.empty(0)
    for typ, m, beta, kind_ in STREAMS:
        mix = m * np.exp(beta * intent) * real
        if kind_ == "email" and typ.startswith("email"):
            mix = mix * lead_has_email
        nb = rng.poisson(mix * amp * tau * -np.expm1(-L / tau))
        nf = rng.poisson(mix * FLOOR * L)
        ib, i_f = np.repeat(idx, nb), np.repeat(idx, nf)
        tb = -tau[ib] * np.log1p(-rng.random(len(ib)) * -np.expm1(-L[ib] / tau[ib]))
        i = np.concatenate([ib, i_f])
        t = np.concatenate([tb, rng.random(len(i_f)) * L[i_f]])
        add(i, at(i, t), typ, kind_)
        if typ == "webinar_registered":
            reg_i, reg_t = i, t
    # Webinar attendance: mostly after registering.
    att = rng.random(len(reg_i)) < 1 / (1 + np.exp(0.2 - 0.8 * intent[reg_i]))
    ai = reg_i[att].astype(np.int64)
    add(ai, at(ai, reg_t[att] + rng.uniform(2, 14, len(ai))), "webinar_attended", "email")
    # E-mail opens follow weekly campaign sends, only weakly related to intent.
    no = rng.poisson(0.045 * np.exp(0.15 * intent) * L * lead_has_email * real)
    oi = np.repeat(idx, no)
    t_abs = c_days[oi] + rng.random(len(oi)) * L[oi]
    send = 1.6 + 7 * np.ceil((t_abs - 1.6) / 7)
    add(oi, start_us + np.floor((send + rng.exponential(0.25, len(oi))) * DAY_US)
        .astype(np.int64), "email_open", "email")
    # Anonymous browsing before the form fill, and the form fill itself.
    npre = rng.poisson(3.0 * np.exp(1.2 * intent) * real)
    pi = np.repeat(idx, npre)
    pre_t = -(rng.exponential(4.0, len(pi)) + 60 / 86400)
    pricing = rng.random(len(pi)) < 0.12
    add(pi[~pricing], at(pi[~pricing], pre_t[~pricing]), "page_view", "device")
    add(pi[pricing], at(pi[pricing], pre_t[pricing]), "pricing_page_view", "device")
    ri = np.flatnonzero(real)
    form_us = created_us[ri] - rng.integers(2_000_000, 20_000_000, len(ri))
    add(ri, form_us, "form_submit", "device")
    parts[-1][2][:] = slot0[ri]  # the form is filled on the lead's form cookie
    parts[-1][4][:] = 0

    say("identities")
    links: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
    links.append((slot0[ri], id_email[ri], form_us, 0))
    firsts = np.flatnonzero(kind == 0)
    for col, has, pr in ((1, has_ck2, 0.6), (2, has_dv, 0.7)):
        ok = firsts[has[p[firsts]] & (rng.random(len(firsts)) < pr) & lead_has_email[firsts]]
        t = created_us[ok] + np.floor((0.02 + rng.exponential(10.0, len(ok))) * DAY_US)
        links.append((slots[ok, col], id_email[ok], t.astype(np.int64), 1))
    merge = np.flatnonzero(kind == 2)
    prim = np.full(n_people, -1)
    prim[p[firsts]] = firsts
    first_of = prim[p[merge]]
    t = created_us[merge] + np.floor((0.05 + rng.exponential(5.0, len(merge))) * DAY_US)
    links.append((id_email[first_of], id_email[merge], t.astype(np.int64), 2))
    # Shared devices (kiosks): each logged into by 10-50 people, a few page views each.
    cand = firsts[lead_has_email[firsts]]
    for k in range(n_shared):
        who = rng.choice(cand, size=min(len(cand), int(rng.integers(10, 51))), replace=False)
        t = created_us[who] + np.floor(rng.random(len(who)) * (end_us - created_us[who]))
        links.append((np.full(len(who), o_kiosk + k), id_email[who], t.astype(np.int64), 1))
        nv = rng.poisson(6.0, len(who))
        vt = np.repeat(t, nv) + rng.normal(0, 2 * 3600e6, nv.sum()).astype(np.int64)
        parts.append((vt, np.zeros(len(vt), int), np.full(len(vt), o_kiosk + k),
                      np.zeros(len(vt), int), np.zeros(len(vt), int),
                      rng.integers(0, len(PROPERTIES["page_view"]), len(vt))))

    ev = [np.concatenate([q[j] for q in parts]) for j in range(6)]
    keep = ev[0] < end_us
    ev = [a[keep] for a in ev]
    o = np.argsort(ev[0], kind="stable")
    ev = [a[o] for a in ev]
    prop_vocab = np.full(len(ALL_TYPES) * 100, "", dtype=object)
    for ti, typ in enumerate(ALL_TYPES):
        prop_vocab[ti * 100: ti * 100 + len(PROPERTIES[typ])] = PROPERTIES[typ]
    events = pd.DataFrame({
        "timestamp": _to_time(ev[0]),
        "identifier": _str(vocab, ev[2]),
        "event_type": _str(ALL_TYPES, ev[1]),
        "channel": _str(EV_CHANNELS, ev[3]),
        "device_type": _str(DEVICE_TYPES, ev[4]),
        "properties": _str(prop_vocab, ev[5]),
    })
    la, lb, lt = (np.concatenate([q[j] for q in links]) for j in range(3))
    lsrc = np.concatenate([np.full(len(q[0]), q[3]) for q in links])
    keep = lt < end_us
    o = np.argsort(lt[keep], kind="stable")
    identities = pd.DataFrame({
        "identifier_a": _str(vocab, la[keep][o]),
        "identifier_b": _str(vocab, lb[keep][o]),
        "timestamp": _to_time(lt[keep][o]),
        "source": _str(("form_submit", "login", "crm_merge"), lsrc[keep][o]),
    })

    say("outcomes")
    # Sales qualifies on fit as a gate (budget, authority, need): the hazard saturates for
    # good fits and vanishes for poor ones, whatever the engagement.
    c_q = np.where(junk, 0.0, np.exp(B0) / (1 + np.exp(-B_FIT * (fit - FIT_GATE))) / HAZARD_NORM)
    e = rng.exponential(1.0, n)
    qual = _cum_hazard(L, c_q, amp, tau) >= e
    lo, hi = np.zeros(n), L.copy()
    for _ in range(48):  # bisection on the monotone closed-form cumulative hazard
        mid = (lo + hi) / 2
        below = _cum_hazard(mid, c_q, amp, tau) < e
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    # Deals close where a decision maker meets the ideal customer profile: the fit effect
    # saturates like the qualification gate does.
    fit_gate = 1 / (1 + np.exp(-B_FIT * (fit - FIT_GATE)))
    p_win = 1 / (1 + np.exp(-(A0 + A_FIT * fit_gate + A_INT * intent)))
    p_win[junk] = 0.0
    delay_mean = 20 + 70 * np.clip(lsize / np.log10(200_000), 0, 1)
    delay_scale = delay_mean / DELAY_SHAPE
    won = rng.random(n) < p_win
    delay = rng.gamma(DELAY_SHAPE, delay_scale)
    q_us = created_us + np.floor(hi * DAY_US).astype(np.int64)
    a_us = q_us + np.floor(delay * DAY_US).astype(np.int64)
    q_obs = qual & (q_us < end_us)
    a_obs = q_obs & won & (a_us < end_us)
    deal = np.round(2500 * csize[p] ** 0.4 * rng.lognormal(0.0, 0.5, n), 0)
    outcomes = pd.DataFrame({
        "lead_id": leads["lead_id"],
        "qualified_at": _to_time(np.where(q_obs, q_us, 0)),
        "acquired_at": _to_time(np.where(a_obs, a_us, 0)),
        "deal_value": np.where(a_obs, deal, np.nan),
    })
    outcomes.loc[~q_obs, "qualified_at"] = pd.NaT
    outcomes.loc[~a_obs, "acquired_at"] = pd.NaT

    oracle = pd.DataFrame({
        "lead_id": leads["lead_id"],
        "created_at": leads["created_at"],
        "person_id": np.where(junk, -1, p),
        "is_junk": junk,
        "seniority": _str(SENIORITIES, np.where(junk, -1, sen[p])),
        "department": _str(DEPARTMENTS, np.where(junk, -1, dep[p])),
        "email_type": _str(EMAIL_TYPES, np.where(lead_has_email, lead_etype, 3)),
        "true_company_size": np.where(junk, np.nan, csize[p]),
        "fit": fit,
        "intent": intent,
        "tau": tau,
        "amp": amp,
        "floor": np.full(n, FLOOR),
        "hazard_scale": c_q,
        "p_win": p_win,
        "delay_shape": np.full(n, DELAY_SHAPE),
        "delay_scale": delay_scale,
    })
    pq, pacq = oracle_probabilities(oracle, oracle["lead_id"], oracle["created_at"].to_numpy())
    oracle["p_qualified_30d"] = pq
    oracle["p_acquired_90d"] = pacq
    oracle.attrs.update({
        "seed": seed, "n_leads": n, "start": pd.Timestamp(start).isoformat(),
        "observed_until": pd.Timestamp(end_us * 1000).isoformat(),
    })
    return Tables(leads=leads, events=events, identities=identities, outcomes=outcomes), oracle


def _cum_hazard(
    t: np.ndarray, c: np.ndarray, amp: np.ndarray, tau: np.ndarray, floor: float | np.ndarray = FLOOR
) -> np.ndarray:
    """Closed-form cumulative qualification hazard ``H(t)`` at lead age ``t`` (days)."""
    return c * (amp * tau * -np.expm1(-t / tau) + floor * t)


def oracle_probabilities(
    oracle: pd.DataFrame,
    lead_ids: Sequence[str] | np.ndarray | pd.Series,
    as_of: Sequence[Any] | np.ndarray | pd.Series,
    horizon_qualified_days: float = 30,
    horizon_acquired_days: float = 90,
) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities for snapshots of leads not yet qualified at ``as_of``.

    Parameters
    ----------
    oracle : pandas.DataFrame
        The oracle frame returned by :func:`generate` (or read from ``oracle.parquet``).
    lead_ids : array-like of str
        Lead of each snapshot.
    as_of : array-like of datetime64
        Snapshot time of each snapshot (before creation counts as at creation).
    horizon_qualified_days, horizon_acquired_days : float
        Label horizons.

    Returns
    -------
    p_qualified, p_acquired : numpy.ndarray
        Probability of qualifying in ``(as_of, as_of + hq]`` and of being acquired in
        ``(as_of, as_of + ha]``, given no qualification by ``as_of``.
    """
    rows = pd.Index(oracle["lead_id"]).get_indexer(pd.Index(np.asarray(lead_ids, dtype=object)))
    if (rows < 0).any():
        raise KeyError(f"unknown lead_id(s), e.g. {np.asarray(lead_ids)[rows < 0][:3].tolist()}")
    col = {c: oracle[c].to_numpy(dtype=float)[rows] for c in (
        "hazard_scale", "amp", "tau", "floor", "p_win", "delay_shape", "delay_scale")}
    created = oracle["created_at"].to_numpy().astype(TIME_DTYPE).astype(np.int64)[rows]
    t_as = pd.to_datetime(np.asarray(as_of)).to_numpy().astype(TIME_DTYPE).astype(np.int64)
    s = np.maximum((t_as - created) / DAY_US, 0.0)
    hq, ha = float(horizon_qualified_days), float(horizon_acquired_days)
    c, amp, tau, fl = col["hazard_scale"], col["amp"], col["tau"], col["floor"]
    h0 = _cum_hazard(s, c, amp, tau, fl)
    p_q = -np.expm1(-(_cum_hazard(s + hq, c, amp, tau, fl) - h0))
    # Acquisition: sum over qualification-time cells of P(qualify in cell) · P(win) ·
    # P(delay <= time left after the cell midpoint).
    grid = np.linspace(0.0, 1.0, 25)
    left = ha * (1 - (grid[:-1] + grid[1:]) / 2)
    p_a = np.empty(len(s))
    step = 1 << 15
    erlang3 = bool(np.all(col["delay_shape"] == 3.0))
    for a in range(0, len(s), step):
        b = slice(a, a + step)
        u = s[b, None] + ha * grid[None, :]
        surv = np.exp(-(_cum_hazard(u, c[b, None], amp[b, None], tau[b, None], fl[b, None])
                        - h0[b, None]))
        mass = surv[:, :-1] - surv[:, 1:]
        x = left[None, :] / col["delay_scale"][b, None]
        if erlang3:
            cdf = -np.expm1(-x) - np.exp(-x) * (x + 0.5 * x * x)
        else:
            from scipy.special import gammainc

            cdf = gammainc(col["delay_shape"][b, None], x)
        p_a[b] = col["p_win"][b] * (mass * cdf).sum(axis=1)
    return np.clip(p_q, 0.0, 1.0), np.clip(p_a, 0.0, 1.0)


def write_dataset(tables: Tables, oracle: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the four tables, ``oracle.parquet`` and ``dataset.json`` to ``out_dir``.

    Parameters
    ----------
    tables : Tables
        Tables from :func:`generate`.
    oracle : pandas.DataFrame
        Oracle frame from :func:`generate`; written to its own file, never a feature.
    out_dir : str or Path
        Target directory (created if needed).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    written = write_tables(tables, out)
    written.append(write_frame(oracle, out / "oracle.parquet"))
    meta = {
        "generator": "leadscore",
        "seed": oracle.attrs.get("seed"),
        "n_leads": int(len(tables.leads)),
        "start": oracle.attrs.get("start", str(tables.leads["created_at"].min().date())),
        "observed_until": oracle.attrs.get(
            "observed_until", pd.Timestamp(tables.events["timestamp"].max()).isoformat()
        ),
        "events": int(len(tables.events)),
    }
    path = out / "dataset.json"
    tmp = path.with_name(".dataset.json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(path)
    written.append(path)
    return written
