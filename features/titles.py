"""Job-title normalisation: free-text title -> ``(seniority, department)``.

The normaliser is token based and rule driven, pure Python and fast:

1. **Prepare.** Coerce to ``str`` (``None`` -> unknown), truncate to :data:`MAX_TITLE_CHARS`,
   casefold, NFKD-normalise and drop everything that is not ASCII (accents go, ``ß`` becomes
   ``ss``, full-width letters become plain), turn ``@`` into ``at``.
2. **Tokenise** on non-alphanumerics (``"Sr.Software Eng."`` -> ``sr software eng``) and glue
   runs of single letters back together (``"V.P."`` -> ``vp``, ``"R&D"`` -> ``rd``).
   Everything after a non-initial ``at`` is dropped: it names the employer, not the role
   (``"Engineer @ Sales Force"``).
3. **Canonicalise** each token: abbreviations and known typos through :data:`_ALIASES`
   (``mgr`` -> ``manager``, ``swe`` -> ``software engineer``, ``maneger`` -> ``manager``);
   unknown alphabetic tokens of length >= 5 are matched against the vocabulary words of
   length >= 6 with a symmetric-delete index and a Damerau (OSA) distance of at most 1
   (at most 2 for tokens of length >= 9), first letter fixed. Common words that sit close
   to a vocabulary word ("internal", "chain", "former", "source") are in the lexicon as
   neutral words so they are never "corrected".
4. **Phrases**: known multi-word terms are merged greedily, longest first
   (``vice president`` -> ``vp``, ``head of`` -> ``head``, ``account manager``,
   ``customer success`` ...).
5. **Rules.**

   *Seniority* -- the strongest rank present wins:
   ``c_level > vp > director > manager > senior > individual``; ``entry`` markers override
   everything (see below); nothing recognised -> ``unknown``.

   *Department* -- every token may vote for a department with a strength: 3 for words that
   name a function (``marketing``, ``sales``, ``software``, ``security``, ``cfo`` ...),
   2 for role nouns that imply one (``engineer``, ``developer``, ``accountant``,
   ``designer``), 1 for weak hints (``operations``, ``project``, ``analyst``, ``founder``,
   ``president``), 0.5 for ``executive`` / ``account`` on their own. The strongest vote
   wins, ties go to the earliest word (``"Sales & Marketing Director"`` -> sales).
   A recognised title without a vote -> ``other`` (``"Manager"``, ``"Consultant"``);
   ``unknown`` is kept for empty, junk and wholly unrecognised titles.

Decisions for ambiguous titles (pinned by the table in ``tests/test_titles.py``):

* ``Vice President`` / ``VP`` / ``SVP`` / ``EVP`` / ``AVP`` -> ``vp`` (never c_level);
  ``Senior VP`` -> ``vp``; ``Senior Director`` -> ``director``; ``Senior Manager`` ->
  ``manager``: ``senior`` is only a modifier of individual roles.
* ``Lead``: ``Team Lead`` and ``Lead`` as the head noun (``Sales Lead``, ``Tech Lead``,
  ``Engineering Lead``) -> ``manager``; ``Lead`` before an individual role noun
  (``Lead Engineer``, ``Lead Data Scientist``, ``Lead Designer``) -> ``senior``.
  ``Lead Generation`` is a marketing term, not a rank.
* ``Staff`` -> ``senior`` only before a technical role noun (``Staff Engineer``);
  ``Staff Accountant`` stays ``individual``. ``Principal`` before a role (``Principal
  Consultant``), ``Distinguished``, ``Fellow`` and level ``III`` / ``IV`` -> ``senior``;
  ``Principal`` standing alone (the principal of a firm) -> ``c_level``.
* ``Associate`` before an individual role (``Associate Consultant``, ``Associate SDR``)
  -> ``entry``; before a rank (``Associate Director``) the rank wins; alone -> individual.
* ``Partner`` -> ``c_level`` when it is the rank (``Partner``, ``Managing Partner``,
  ``Senior Partner``, ``Partner, Tax``), but not when it modifies another role or is
  preceded by a function (``Partner Marketing Manager``, ``HR Business Partner``,
  ``Talent Partner``).
* ``Owner`` -> ``c_level`` except ``Product Owner`` (individual / product) and
  ``Process/Service/... Owner``.
* ``Managing Director``, ``Chairman``, board members, ``Entrepreneur`` -> ``c_level`` /
  executive. ``General Counsel`` -> ``c_level`` / legal (the top lawyer); ``Associate /
  Assistant / Deputy General Counsel`` -> ``director`` / legal.
* ``Chief of Staff`` -> ``c_level`` / executive (every ``Chief ...`` is c_level);
  ``General Manager`` and ``Executive Director`` -> ``director`` / executive (unless a
  function is named). ``Controller`` -> individual / finance.
* ``Assistant``: ``Assistant to the CEO``, ``Executive Assistant``, ``Marketing
  Assistant`` -> ``entry`` (department from the rest: executive, marketing). When a rank
  follows (``Assistant Manager``, ``Assistant Director``, ``Assistant Vice President``)
  it is a modifier and the rank wins. ``Intern``, ``Trainee``, ``Apprentice``, ``Junior``,
  ``Jr.``, ``Graduate``, ``Entry level`` -> ``entry`` whatever else the title says.
* ``Account Manager`` (and ``Account Management``) -> ``manager`` / customer_success,
  ``Product Manager`` -> ``manager`` / product, ``Senior Product Manager`` -> ``manager``:
  a ``Manager`` title is manager seniority even when the role is often an individual
  contributor. ``Key Account Manager`` -> sales. ``Account Executive`` -> individual /
  sales. ``Product Marketing ...`` -> marketing. ``Facilities``, ``Procurement``,
  ``Office Manager`` -> operations; ``Communications`` -> marketing; ``Development``
  alone -> engineering (weak); ``Strategy`` -> executive (weak).
* C-level abbreviations map to the function they name: CTO -> engineering, CIO/CISO -> it,
  CFO -> finance, CMO/CGO -> marketing, CRO/CBO -> sales, COO -> operations, CPO ->
  product, CDO -> data, CHRO -> hr, CLO -> legal; CEO, founder, owner, president ->
  executive; ``Chief Customer Officer`` -> customer_success. Ambiguous abbreviations
  (CSO, CCO, CAO, CXO) -> executive. A founder/owner/president
  title that names a function goes to that function (``Founder & CTO`` -> engineering),
  but ``CEO`` is itself a strong executive vote (``CEO & CTO`` -> executive).
* Students of any kind (incl. ``PhD Candidate``, ``MBA Candidate``) and ``Unemployed`` /
  job seekers -> ``entry`` / other. ``Retired`` (even ``Retired CFO``) and ``Homemaker``
  -> ``individual`` / other. The literal answer ``Other`` -> ``unknown`` / other.
  ``Freelancer`` / ``Self-employed`` / ``Independent`` / ``Contractor`` -> individual,
  department from the named function (``Freelance Graphic Designer`` -> marketing), else
  other. Occupations outside the department list (teacher, nurse, chef ...) ->
  individual / other.
* Empty, ``None``, junk (``asdf``, ``-``, ``n/a``, ``test``, ``xxx``) and titles with no
  recognised word at all -> ``("unknown", "unknown")``.

Public API: :func:`normalise_title`, :data:`SENIORITIES`, :data:`DEPARTMENTS`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["DEPARTMENTS", "MAX_TITLE_CHARS", "SENIORITIES", "normalise_title"]

SENIORITIES: tuple[str, ...] = (
    "c_level",
    "vp",
    "director",
    "manager",
    "senior",
    "individual",
    "entry",
    "unknown",
)
DEPARTMENTS: tuple[str, ...] = (
    "executive",
    "marketing",
    "sales",
    "engineering",
    "it",
    "product",
    "data",
    "operations",
    "finance",
    "hr",
    "customer_success",
    "legal",
    "other",
    "unknown",
)

MAX_TITLE_CHARS = 200
"""Titles are truncated to this many characters before anything else."""

_MAX_TOKENS = 32
_MAX_FUZZY_PER_TITLE = 4
_UNKNOWN: tuple[str, str] = ("unknown", "unknown")

# Rank levels: higher is stronger. ENTRY is handled by flags, not by level.
_NONE, _INDIVIDUAL, _SENIOR, _MANAGER, _DIRECTOR, _VP, _C_LEVEL = range(7)
_RANK_NAMES = {
    _INDIVIDUAL: "individual",
    _SENIOR: "senior",
    _MANAGER: "manager",
    _DIRECTOR: "director",
    _VP: "vp",
    _C_LEVEL: "c_level",
}

# Flags.
_ROLE = 1  # an individual-contributor role noun (engineer, analyst, ...)
_TECH = 2  # a technical role noun (for "Staff Engineer", "Lead Engineer")
_ENTRY = 4  # forces seniority "entry"
_STUDENT = 8  # ("entry", "other"): students, job seekers
_NO_RANK = 16  # ("unknown", "other"): the literal answer "Other"
_RETIRED = 32  # ("individual", "other"): retired, homemaker
_JUNK = 64  # recognised as meaningless: never fuzzed into a real word
_STOP = 128  # connector word


class _Entry(NamedTuple):
    rank: int
    dept: str | None
    strength: float
    flags: int


_LEXICON: dict[str, _Entry] = {}


def _add(words: str, rank: int = _NONE, dept: str | None = None, strength: float = 0.0,
         flags: int = 0) -> None:
    for w in words.split():
        _LEXICON[w] = _Entry(rank, dept, strength, flags)


# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------
# Connectors and neutral words. Neutral words are in the lexicon so that the fuzzy
# matcher never turns them into a near neighbour ("internal" is not "intern").
_add("of the and to at for in on a an with by from or as per", flags=_STOP)
_add(
    "internal international national regional global local worldwide area region emea apac "
    "americas america north south east west central europe european asia pacific latam dach "
    "nordics benelux uk us usa canada india germany france country field territory district "
    "city state federal government public private sector industry services service solutions "
    "solution strategy strategic general special key enterprise corporate group team office "
    "center centre department division unit company client clients relations relationship "
    "management managing member members business new digital global "
    "technologies information innovation transformation excellence performance "
    "planning program programme project process quality change community experience "
    "science sciences research consulting ii level co founding deputy vice multi "
    "cross functional interim acting chain self employed estate real agency firm studio "
    "school university college hospital clinic bank shop restaurant hotel "
    "banner contest context export follow former layer lender letter parent patient policy "
    "source open",
)
_add(
    "asdf asd sdf qwerty qwe test tests xxx xx x n na nil null none unknown tbd tba abc aaa "
    "foo bar blah no yes me ok title job jobtitle nothing idk dunno abcd xyz zzz aa asdfgh "
    "sdfsdf dfg hjk jkl lol",
    flags=_JUNK,
)

# --- C level ---------------------------------------------------------------------------
_add("ceo", _C_LEVEL, "executive", 3)
_add("chairman chairwoman chairperson chair board_member", _C_LEVEL, "executive", 3)
_add("founder cofounder owner proprietor president managing_director managing_partner "
     "c_level_kw entrepreneur chief partner cxo cso cco cao", _C_LEVEL, "executive", 1)
_add("geschaftsfuhrer inhaber", _C_LEVEL, "executive", 1)
_add("cto", _C_LEVEL, "engineering", 3)
_add("cio ciso", _C_LEVEL, "it", 3)
_add("cfo", _C_LEVEL, "finance", 3)
_add("cmo cgo", _C_LEVEL, "marketing", 3)
_add("cro cbo", _C_LEVEL, "sales", 3)
_add("coo", _C_LEVEL, "operations", 3)
_add("cpo", _C_LEVEL, "product", 3)
_add("cdo", _C_LEVEL, "data", 3)
_add("chro", _C_LEVEL, "hr", 3)
_add("clo general_counsel", _C_LEVEL, "legal", 3)
_add("c_customer", _C_LEVEL, "customer_success", 3)

# --- VP / director / manager / senior -----------------------------------------------------
_add("vp", _VP)
_add("director directeur direktor directora leiter head", _DIRECTOR)
_add("executive_director general_manager", _DIRECTOR, "executive", 1)
_add("chief_of_staff", _C_LEVEL, "executive", 2)
_add("deputy_general_counsel", _DIRECTOR, "legal", 3)
_add("manager supervisor team_lead leader lead foreman superintendent gerente", _MANAGER)
_add("account_manager", _MANAGER, "customer_success", 3)
_add("senior distinguished fellow iii iv", _SENIOR)
_add("principal", _SENIOR)  # c_level when it stands alone, see rules
_add("staff", _INDIVIDUAL, flags=_ROLE)  # senior only before a technical role, see rules

# --- entry and special statuses --------------------------------------------------------
_add("intern trainee apprentice junior graduate entry_kw praktikant stagiaire becario",
     _INDIVIDUAL, flags=_ENTRY)
_add("assistant", _INDIVIDUAL, flags=_ROLE)  # entry unless a rank follows, see rules
_add("assistant_to", _INDIVIDUAL, flags=_ENTRY)
_add("ea", _INDIVIDUAL, "executive", 1, _ENTRY)
_add("student undergraduate postgraduate pupil phd mba unemployed jobseeker", _INDIVIDUAL,
     flags=_STUDENT)
_add("retired homemaker housewife househusband", _INDIVIDUAL, flags=_RETIRED)
_add("other", flags=_NO_RANK)
_add("freelancer freelance self_employed contractor independent", _INDIVIDUAL)
_add("teacher professor lecturer tutor nurse doctor physician surgeon dentist pharmacist "
     "therapist psychologist counselor counsellor chef cook driver pilot artist musician "
     "photographer actor author journalist farmer mechanic electrician plumber carpenter "
     "nanny cashier waiter waitress barista bartender pastor priest soldier police "
     "firefighter veterinarian realtor coach volunteer postdoc librarian caregiver",
     _INDIVIDUAL, "other", 1.5, _ROLE)

# --- role nouns (individual contributors) ----------------------------------------------
_add("engineer developer programmer coder", _INDIVIDUAL, "engineering", 2, _ROLE | _TECH)
_add("architect", _INDIVIDUAL, "engineering", 2, _ROLE | _TECH)
_add("tester", _INDIVIDUAL, "engineering", 2, _ROLE)
_add("scientist", _INDIVIDUAL, "data", 2, _ROLE | _TECH)
_add("researcher", _INDIVIDUAL, None, 0, _ROLE | _TECH)
_add("statistician", _INDIVIDUAL, "data", 3, _ROLE)
_add("analyst", _INDIVIDUAL, "data", 1, _ROLE)
_add("designer", _INDIVIDUAL, "product", 2, _ROLE | _TECH)
_add("product_owner", _INDIVIDUAL, "product", 3, _ROLE)
_add("accountant", _INDIVIDUAL, "finance", 2, _ROLE)
_add("bookkeeper actuary underwriter treasurer cpa controller", _INDIVIDUAL, "finance", 3, _ROLE)
_add("auditor economist banker trader investor", _INDIVIDUAL, "finance", 2, _ROLE)
_add("recruiter headhunter", _INDIVIDUAL, "hr", 3, _ROLE)
_add("sourcer trainer", _INDIVIDUAL, "hr", 2, _ROLE)
_add("attorney lawyer paralegal solicitor barrister counsel", _INDIVIDUAL, "legal", 3, _ROLE)
_add("marketer copywriter", _INDIVIDUAL, "marketing", 3, _ROLE)
_add("writer editor strategist producer", _INDIVIDUAL, "marketing", 1, _ROLE)
_add("salesperson salesman saleswoman account_executive", _INDIVIDUAL, "sales", 3, _ROLE)
_add("representative", _INDIVIDUAL, "sales", 1, _ROLE)
_add("sysadmin dba", _INDIVIDUAL, "it", 3, _ROLE)
_add("technician", _INDIVIDUAL, "it", 1, _ROLE)
_add("receptionist dispatcher", _INDIVIDUAL, "operations", 2, _ROLE)
_add("secretary clerk buyer planner operator", _INDIVIDUAL, "operations", 1, _ROLE)
_add("specialist consultant associate administrator advisor adviser officer agent "
     "coordinator business_partner expert generalist", _INDIVIDUAL, None, 0, _ROLE)
_add("executive", _INDIVIDUAL, "executive", 0.5, _ROLE)

# --- function words (department votes) ---------------------------------------------------
_add("marketing growth demand_gen brand branding content seo sem ppc communications comms "
     "pr social_media advertising campaign campaigns lifecycle abm influencer mktg",
     dept="marketing", strength=3)
_add("creative media graphic art email crm ecommerce promotions events",
     dept="marketing", strength=2)
_add("acquisition", dept="marketing", strength=1)
_add("bdr sdr", _INDIVIDUAL, "sales", 3, _ROLE)
_add("sales business_development bd bdm revenue partnerships alliances alliance "
     "channel presales key_account revops vertrieb ventas", dept="sales", strength=3)
_add("territory", dept="sales", strength=2)
_add("commercial store retail", dept="sales", strength=1)
_add("account accounts", dept="sales", strength=0.5)
_add("software sw devops sre engineering fullstack frontend backend ios android qa rd "
     "embedded firmware python java javascript golang php ruby react dotnet", dept="engineering",
     strength=3)
_add("web mobile hardware testing automation scrum mechanical electrical civil chemical",
     dept="engineering", strength=2)
_add("technical tech platform development", dept="engineering", strength=1)
_add("it network networking infrastructure security cybersecurity infosec helpdesk desktop "
     "erp sap noc soc servicenow", dept="it", strength=3)
_add("cloud salesforce telecom linux windows", dept="it", strength=2)
_add("technology database system", dept="it", strength=1)
_add("product ux ui", dept="product", strength=3)
_add("design interaction", dept="product", strength=2)
_add("data analytics bi ml ai statistics", dept="data", strength=3)
_add("insights reporting", dept="data", strength=2)
_add("logistics procurement purchasing supply facilities facility warehouse fulfillment "
     "manufacturing fleet transportation", dept="operations", strength=3)
_add("production plant sourcing vendor maintenance pmo", dept="operations", strength=2)
_add("operations operating office administration administrative admin project quality",
     dept="operations", strength=1)
_add("finance financial accounting controlling treasury tax audit bookkeeping actuarial "
     "underwriting payable receivable fp", dept="finance", strength=3)
_add("billing investment banking trading credit risk wealth portfolio fund equity capital",
     dept="finance", strength=2)
_add("hr hrbp people talent recruiting recruitment personnel compensation benefits hris "
     "staffing ld", dept="hr", strength=3)
_add("payroll learning culture diversity workforce employee", dept="hr", strength=2)
_add("customer_success support success renewals renewal tam", dept="customer_success",
     strength=3)
_add("onboarding implementation retention", dept="customer_success", strength=2)
_add("customer client", dept="customer_success", strength=1)
_add("general_management", dept="executive", strength=2)
_add("strategy", dept="executive", strength=1.5)
_add("legal compliance regulatory patent litigation dpo", dept="legal", strength=3)
_add("law contracts privacy governance", dept="legal", strength=2)

# ---------------------------------------------------------------------------------------
# Aliases: abbreviations, spellings and typos -> canonical token(s)
# ---------------------------------------------------------------------------------------
_ALIASES: dict[str, tuple[str, ...]] = {}


def _alias(target: str, *sources: str) -> None:
    out = tuple(target.split())
    for s in sources:
        _ALIASES[s] = out


_alias("vp", "svp", "evp", "avp", "vicepresident", "vpo", "vps")
_alias("vice", "vise", "vce")
_alias("senior", "sr", "snr", "sen", "senoir", "seinor", "sernior")
_alias("junior", "jr", "jnr", "jun")
_alias("director", "dir", "drctr", "dirctor", "direcor", "diretor", "directr", "directors")
_alias("manager", "mgr", "mngr", "mgr", "mng", "mangr", "maneger", "manger", "manageer",
       "managr", "manage")
_alias("management", "mgmt", "mgt")
_alias("supervisor", "supv", "supvr", "spvr")
_alias("engineer", "eng", "engr", "engnr", "engeneer", "enginer", "enginner", "engineeer",
       "ingenieur", "ingeniero", "engineers")
_alias("engineering", "engg", "enginering", "engeneering")
_alias("developer", "dev", "devloper", "develper", "developper", "entwickler", "desarrollador")
_alias("development", "devt", "dvlpmt")
_alias("marketing", "mktg", "mkt", "mkting", "mrktg", "markting", "marketting", "marketng")
_alias("operations", "ops")
_alias("business", "biz", "bus", "busn", "bussiness", "buisness")
_alias("analyst", "analist", "anaylst", "analyts")
_alias("president", "pres", "presdent", "presidnet", "prez")
_alias("chairman", "chmn")
_alias("founder", "cofounder")
_alias("assistant", "asst", "assist", "asistant", "assitant")
_alias("associate", "assoc", "asso")
_alias("administrator", "admr", "adminstrator")
_alias("admin", "adm")
_alias("coordinator", "coord", "coordinater")
_alias("representative", "rep", "repr", "reps")
_alias("executive", "exec", "execs")
_alias("account", "acct", "acc")
_alias("technology", "technologies")
_alias("customer_success", "cs", "cx")
_alias("customer_success manager", "csm")
_alias("account_executive", "ae")
_alias("business_development manager", "bdm")
_alias("business_development", "bizdev", "busdev")
_alias("software", "sw")
_alias("software engineer", "swe", "sde")
_alias("product manager", "pm")
_alias("general_manager", "gm")
_alias("managing_director", "md")
_alias("ea", "execasst")
_alias("it", "ict")
_alias("hr", "humanresources")
_alias("devops", "devsecops")
_alias("fullstack", "fullstackdeveloper")
_alias("security", "sec")
_alias("finance", "fin")
_alias("legal", "leagal")
_alias("intern", "internship", "interns")
_alias("graduate", "grad")
_alias("student", "werkstudent")
_alias("freelancer", "freelance")
_alias("retired", "retiree", "pensioner")
_alias("self_employed", "selfemployed")
_alias("entrepreneur", "entrepeneur", "enterpreneur")
_alias("recruiter", "recruter", "recuiter")
_alias("consultant", "consultent", "consulant")
_alias("specialist", "specalist", "spec", "specialiste")
_alias("sysadmin", "sysad")
_alias("team_lead", "teamlead")
_alias("demand_gen", "leadgen")
_alias("c_level_kw", "clevel", "csuite")
_alias("qa", "qe", "sdet")
_alias("ux", "uxui", "uiux")
_alias("advertising", "adv")
_alias("communications", "communication")
_alias("relations", "relation")
_alias("system", "systems")
_alias("service", "services")
_alias("partnerships", "partnership")
_alias("analytics", "analytic")
_alias("sdr", "sdrs")
_alias("bdr", "bdrs")

# Multi-word phrases -> replacement tokens (applied after per-token canonicalisation).
_PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _phrase(target: str, *sources: str) -> None:
    out = tuple(target.split())
    for s in sources:
        # Keys are written in canonical tokens, so aliases apply inside phrases too.
        key: list[str] = []
        for t in s.split():
            key.extend(_ALIASES.get(t, (t,)))
        for t in key:
            _LEXICON.setdefault(t, _Entry(_NONE, None, 0.0, 0))  # never fuzzed away
        _PHRASES[tuple(key)] = out


_phrase("vp", "vice president", "vice presidents", "v president", "vice pres")
_phrase("founder", "co founder", "co founders")
_phrase("ceo", "co ceo", "chief executive officer", "chief executive")
_phrase("cto", "chief technology officer", "chief technical officer", "chief technology")
_phrase("cio", "chief information officer")
_phrase("ciso", "chief information security officer", "chief security officer")
_phrase("coo", "chief operating officer", "chief operations officer")
_phrase("cfo", "chief financial officer", "chief finance officer")
_phrase("cmo", "chief marketing officer")
_phrase("cro", "chief revenue officer")
_phrase("chief_of_staff", "chief of staff")
_phrase("c_customer", "chief customer officer", "chief customer success officer")
_phrase("general_management", "general management")
_phrase("customer_success", "account management", "client management")
_phrase("head", "head of")
_phrase("managing_director", "managing director")
_phrase("managing_partner", "managing partner", "founding partner", "senior partner",
        "equity partner", "name partner", "general partner")
_phrase("general_manager", "general manager")
_phrase("general_counsel", "general counsel", "chief counsel", "chief legal counsel")
_phrase("deputy_general_counsel", "deputy general_counsel", "associate general_counsel",
        "assistant general_counsel")
_phrase("executive_director", "executive director")
_phrase("board_member", "board member", "board director", "board of director",
        "member of the board", "non executive director", "nonexecutive director",
        "board advisor", "board chair", "chair of the board", "board of directors")
_phrase("c_level_kw", "c level", "c suite")
_phrase("vp", "executive vp", "senior vp")
_phrase("team_lead", "team lead", "team leader", "group lead", "squad lead")
_phrase("demand_gen", "demand gen", "demand generation", "lead gen", "lead generation")
_phrase("account_executive", "account executive", "sales executive")
_phrase("account_manager", "account manager")
_phrase("key_account", "key account", "national account", "strategic account")
_phrase("business_development", "business development", "biz dev", "business developer",
        "business dev", "new business")
_phrase("customer_success", "customer success", "customer service", "customer support",
        "customer care", "customer experience", "client services", "client service",
        "client success")
_phrase("sysadmin", "system administrator", "network administrator",
        "systems administrator", "database administrator", "it administrator")
_phrase("hr", "human resources", "human resource", "people operations", "people ops")
_phrase("it", "information technology", "information systems")
_phrase("security", "information security", "cyber security", "it security")
_phrase("pr", "public relations")
_phrase("marketing", "product marketing")
_phrase("social_media", "social media")
_phrase("product_owner", "product owner")
_phrase("professor", "assistant professor", "associate professor")
_phrase("assistant_to", "assistant to", "executive assistant to", "personal assistant to",
        "ea to")
_phrase("ea", "executive assistant", "personal assistant", "administrative assistant",
        "admin assistant", "office assistant")
_phrase("sre", "site reliability")
_phrase("fullstack", "full stack", "front end", "back end", "frontend backend")
_phrase("qa", "quality assurance")
_phrase("qa engineer", "quality engineer", "test engineer")
_phrase("qa automation", "test automation")
_phrase("business_partner", "business partner")
_phrase("rd", "research and development", "research development")
_phrase("ml", "machine learning", "deep learning")
_phrase("ai", "artificial intelligence")
_phrase("bi", "business intelligence")
_phrase("data", "data science", "big data")
_phrase("talent", "talent acquisition")
_phrase("finance", "accounts payable", "accounts receivable", "investor relations")
_phrase("helpdesk", "help desk", "service desk")
_phrase("ecommerce", "e commerce")
_phrase("ld", "learning and development", "learning development")
_phrase("student", "mba candidate", "graduate student", "working student", "phd student", "phd candidate",
        "master student", "masters student")
_phrase("entry_kw", "entry level")
_phrase("self_employed", "self employed")
_phrase("jobseeker", "job seeker", "looking for work", "open to work", "between jobs",
        "seeking opportunities", "seeking employment")
_phrase("graduate", "new graduate")
_phrase("ux", "user experience", "user interface")
_phrase("customer_success manager", "success manager")
_phrase("revops", "revenue operations", "rev ops")

_MAX_PHRASE = max(len(k) for k in _PHRASES)

# Tokens after which "owner" is not a business owner.
_OWNER_NOT_RANK = frozenset(
    {"process", "service", "system", "data", "content", "platform", "budget", "account",
     "technical"}
)
# Words that may precede a partner that is the rank ("Associate Partner", "Partner").
_PARTNER_MODIFIERS = frozenset(
    {"associate", "junior", "co", "senior", "deputy", "interim", "acting"}
)
# Ranks that make a preceding "assistant" a modifier ("Assistant Manager").
_RANK_WORDS_FOR_ASSISTANT = frozenset({_MANAGER, _DIRECTOR, _VP, _C_LEVEL})


# ---------------------------------------------------------------------------------------
# Fuzzy matching: symmetric-delete candidates, verified with an OSA edit distance.
# ---------------------------------------------------------------------------------------
def _deletes(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        nxt: set[str] = set()
        for w in frontier:
            for i in range(len(w)):
                nxt.add(w[:i] + w[i + 1:])
        out |= nxt
        frontier = nxt
    return out


def _fuzzy_targets() -> Iterable[str]:
    for word, entry in _LEXICON.items():
        if (entry.flags & (_STOP | _JUNK)) or "_" in word or len(word) < 6:
            continue
        if entry.rank == _NONE and entry.dept is None and not entry.flags:
            continue  # neutral words: protected from fuzzing, not fuzzed into
        yield word


@functools.cache
def _fuzzy_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, set[str]] = {}
    for word in _fuzzy_targets():
        for variant in _deletes(word, 2 if len(word) >= 7 else 1):
            index.setdefault(variant, set()).add(word)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def _within_one(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` differ by one edit (substitution, insertion, deletion or
    transposition of neighbours). Linear time, string slices do the heavy lifting."""
    la, lb = len(a), len(b)
    if la < lb:
        a, b, la, lb = b, a, lb, la
    if la - lb > 1:
        return False
    i = 0
    while i < lb and a[i] == b[i]:
        i += 1
    if la != lb:
        return a[i + 1:] == b[i:]
    if i == la:
        return True  # identical
    return a[i + 1:] == b[i + 1:] or (
        i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    )


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b``, capped at ``limit + 1``."""
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    big = limit + 1
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [big] * (lb + 1)
        cur[0] = i
        ca = a[i - 1]
        lo, hi = max(1, i - limit), min(lb, i + limit)
        row_min = i if lo == 1 else big
        for j in range(lo, hi + 1):
            cb = b[j - 1]
            v = prev[j - 1] + (ca != cb)
            if prev[j] + 1 < v:
                v = prev[j] + 1
            if cur[j - 1] + 1 < v:
                v = cur[j - 1] + 1
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and prev2[j - 2] + 1 < v:
                v = prev2[j - 2] + 1
            cur[j] = v
            if v < row_min:
                row_min = v
        if row_min > limit:
            return big
        prev2, prev = prev, cur
    return min(prev[lb], big)


def _candidates(variants: Iterable[str], first: str) -> list[str]:
    index = _fuzzy_index()
    found: set[str] = set()
    for variant in variants:
        hit = index.get(variant)
        if hit:
            found.update(hit)
    return sorted(c for c in found if c[0] == first)


def _fuzzy(token: str) -> str | None:
    """The closest vocabulary word to ``token`` (same first letter), or ``None``.

    One edit is allowed; two for tokens of 9 characters or more. Ties go to the
    alphabetically first word, so the result is deterministic.
    """
    near = _deletes(token, 1)
    for cand in _candidates(near, token[0]):
        if _within_one(token, cand):
            return cand
    if len(token) <= 8:
        return None
    far = _deletes(token, 2) - near
    for cand in _candidates(far | near, token[0]):
        if _osa_distance(token, cand, 2) <= 2:
            return cand
    return None


# ---------------------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------------------
_TOKEN_RE = re.compile(r"[a-z0-9]+")


def _raw_tokens(text: str) -> list[str]:
    text = text.casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.replace("@", " at ")
    raw = _TOKEN_RE.findall(text)
    # Glue runs of single letters: "v p" -> "vp", "c e o" -> "ceo", "r d" -> "rd".
    out: list[str] = []
    run: list[str] = []
    for t in raw:
        if len(t) == 1 and t.isalpha():
            run.append(t)
            continue
        if run:
            out.append("".join(run))
            run = []
        out.append(t)
    if run:
        out.append("".join(run))
    # Drop the employer: everything after a non-initial "at".
    for i in range(1, len(out)):
        if out[i] == "at":
            del out[i:]
            break
    return out[:_MAX_TOKENS]


def _canonical_tokens(raw: list[str]) -> list[str]:
    out: list[str] = []
    fuzzy_budget = _MAX_FUZZY_PER_TITLE
    for t in raw:
        alias = _ALIASES.get(t)
        if alias is not None:
            out.extend(alias)
            continue
        if t in _LEXICON:
            out.append(t)
            continue
        if fuzzy_budget > 0 and 5 <= len(t) <= 24 and t.isalpha():
            fuzzy_budget -= 1
            hit = _fuzzy(t)
            if hit is not None:
                out.append(hit)
                continue
        out.append(t)
    return _merge_phrases(out)


def _merge_phrases(tokens: list[str]) -> list[str]:
    """Greedy, longest-first phrase merging; a second pass resolves phrases of phrases."""
    for _ in range(2):
        out: list[str] = []
        i, n = 0, len(tokens)
        changed = False
        while i < n:
            for size in range(min(_MAX_PHRASE, n - i), 1, -1):
                repl = _PHRASES.get(tuple(tokens[i:i + size]))
                if repl is not None:
                    out.extend(repl)
                    i += size
                    changed = True
                    break
            else:
                out.append(tokens[i])
                i += 1
        tokens = out
        if not changed:
            break
    return tokens


def _classify(tokens: list[str]) -> tuple[str, str]:
    entries: list[tuple[str, _Entry]] = []
    for t in tokens:
        e = _LEXICON.get(t)
        if e is not None and not (e.flags & (_STOP | _JUNK)):
            entries.append((t, e))
    if not entries:
        return _UNKNOWN

    flags = 0
    best_rank = _NONE
    best_dept: str | None = None
    best_strength = 0.0
    recognised = False
    for i, (tok, e) in enumerate(entries):
        rank, dept, strength, f = e
        if tok == "lead":
            later = entries[i + 1:]
            rank = _SENIOR if any(x.flags & _ROLE for _, x in later) else _MANAGER
        elif tok == "staff" and any(x.flags & _TECH for _, x in entries[i + 1:]):
            rank = _SENIOR
        elif tok == "principal" and not any(x.rank >= _INDIVIDUAL for _, x in entries[i + 1:]):
            rank, dept, strength = _C_LEVEL, "executive", 1  # "Principal" (the firm's)
        elif tok == "associate" and any(
            x.flags & _ROLE and x.rank == _INDIVIDUAL for _, x in entries[i + 1:]
        ):
            f |= _ENTRY  # "Associate Consultant"; "Associate Director" stays director
        elif tok == "partner":
            prev = entries[i - 1][0] if i > 0 else None
            role_after = any(x.rank >= _INDIVIDUAL for _, x in entries[i + 1:])
            if (prev is not None and prev not in _PARTNER_MODIFIERS) or role_after:
                # "Partner Manager", "Talent Partner": a partner-facing role, not the rank.
                rank, dept, strength = _INDIVIDUAL, "sales", 1
        elif tok == "owner":
            prev = entries[i - 1][0] if i > 0 else None
            if prev in _OWNER_NOT_RANK:
                rank, dept, strength = _INDIVIDUAL, None, 0
        elif tok == "assistant" and not any(
            x.rank in _RANK_WORDS_FOR_ASSISTANT for _, x in entries[i + 1:]
        ):
            f |= _ENTRY  # "Marketing Assistant"; "Assistant Manager" is a manager
        flags |= f
        if rank > best_rank:
            best_rank = rank
        if dept is not None and strength > best_strength:
            best_dept, best_strength = dept, strength
        if rank != _NONE or dept is not None or f:
            recognised = True

    if not recognised:
        return _UNKNOWN
    if flags & _STUDENT:
        return ("entry", "other")
    if flags & _RETIRED:
        return ("individual", "other")
    if flags & _NO_RANK:
        return ("unknown", "other")
    if flags & _ENTRY:
        seniority = "entry"
    elif best_rank == _NONE:
        seniority = "individual"  # only function words: "Marketing", "Sales"
    else:
        seniority = _RANK_NAMES[best_rank]
    # A recognised title that names no function of ours ("Consultant", "Manager").
    return (seniority, best_dept if best_dept is not None else "other")


@functools.lru_cache(maxsize=65536)
def _normalise_cached(text: str) -> tuple[str, str]:
    return _classify(_canonical_tokens(_raw_tokens(text)))


def normalise_title(title: object) -> tuple[str, str]:
    """Normalise a free-text job title to ``(seniority, department)``.

    Parameters
    ----------
    title : str or None
        The job title as typed by the lead. Anything else is coerced with ``str()``;
        ``None`` and values whose ``str()`` fails give ``("unknown", "unknown")``.
        Only the first :data:`MAX_TITLE_CHARS` characters are read.

    Returns
    -------
    tuple of (str, str)
        ``seniority`` is one of :data:`SENIORITIES`, ``department`` one of
        :data:`DEPARTMENTS`. Never raises.

    Notes
    -----
    Results are memoised (``functools.lru_cache``, 65,536 entries) on the truncated text,
    so batch use over many rows with repeated titles is cheap. See the module docstring
    for the rules applied to ambiguous titles.

    Examples
    --------
    >>> normalise_title("Sr.Software Eng.")
    ('senior', 'engineering')
    >>> normalise_title("VP, Sales")
    ('vp', 'sales')
    >>> normalise_title("Assistant to the CEO")
    ('entry', 'executive')
    >>> normalise_title(None)
    ('unknown', 'unknown')
    """
    if title is None:
        return _UNKNOWN
    if not isinstance(title, str):
        try:
            title = str(title)
        except Exception:
            return _UNKNOWN
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS]
    return _normalise_cached(title)
