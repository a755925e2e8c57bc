"""Bring your own data: a config section that maps a CRM export onto the data contract.

Real users have a leads file with their own column names, often no events, outcomes as a
yes/no column and sometimes no timestamps at all. :class:`DataConfig` (the ``data:``
section of the training config) says where the files are and what each column is;
:func:`load_source` reads them into the contract's :class:`~features.contract.Tables`
plus what the contract cannot hold (flag labels, the attribute schema):

* ``lead_id`` from ``id_column`` (default: the 1-based row number);
* ``created_at`` from ``created_at_column``; without it the row order is the time order
  (leads get increasing synthetic times, one second apart, and no time-based feature);
* contract columns under other names via ``rename`` (``{"Title": "job_title"}``); the
  contract's fit features are built from whichever of them are present;
* extra attribute columns by role: ``categorical``, ``numeric``, ``title`` (free text,
  normalised to seniority and department) and ``behaviour`` (pre-aggregated activity
  counts: engagement features, monotone like the event-based ones);
* each target either as a timestamp column plus horizon (as in the contract's outcomes)
  or as a flag column with its positive value.

Contract columns under their own names (``email``, ``company_size`` …) are used as such,
unless declared under ``attributes`` (a bank's ``campaign`` count is not the contract's
campaign name). Column names become API field names: anything that is not a letter, digit
or underscore becomes ``_`` (``emp.var.rate`` → ``emp_var_rate``), a declared column that
shares a contract name gets ``attr_`` in front; the API also accepts the original name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.contract import (
    EVENTS,
    IDENTITIES,
    LEADS,
    OUTCOMES,
    ContractError,
    Tables,
    _offending,
    check_relations,
    coerce_table,
    empty_table,
)
from features.snapshots import DEFAULT_HORIZONS_DAYS

TargetName = Literal["qualification", "acquisition"]
TIME_COLUMN_OF = {"qualification": "qualified_at", "acquisition": "acquired_at"}
FLAG_COLUMN_OF = {"qualification": "qualified", "acquisition": "acquired"}
ROW_ORDER_EPOCH = pd.Timestamp("2000-01-01")
DEFAULT_POSITIVES = frozenset({"1", "1.0", "true", "yes", "y"})
DEFAULT_NEGATIVES = frozenset({"0", "0.0", "false", "no", "n"})
CONTRACT_LEAD_COLUMNS = tuple(c.name for c in LEADS.columns)

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(_Strict):
    path: str = Field(description="CSV or Parquet file; relative paths are resolved against --data (default: the current directory).")
    separator: str = Field(",", min_length=1, max_length=1, description="CSV field separator.")
    encoding: str = Field("utf-8", description="CSV text encoding.")


class TargetSpec(_Strict):
    """A target as a flag column (``flag`` + ``positive``) or a timestamp column (``timestamp`` + ``horizon_days``)."""

    flag: str | None = Field(None, description="Column whose value says whether the lead reached the target.")
    positive: str | None = Field(None, description="The flag's value meaning yes (compared as text, case-insensitive); default: 1/true/yes.")
    negative: tuple[str, ...] | None = Field(
        None,
        description="The flag's values meaning no, when it has others (rows with any other value are left unlabelled); "
        "default: every value but the positive one, if there is only one such value.",
    )
    timestamp: str | None = Field(None, description="Column with when the lead reached the target (blank: never).")
    horizon_days: float | None = Field(None, gt=0, description="Label window after each snapshot (timestamp targets).")

    @field_validator("positive", mode="before")
    @classmethod
    def _as_text(cls, v: object) -> object:
        if isinstance(v, bool):  # YAML reads an unquoted yes/no/true/false as a boolean
            raise ValueError(f"YAML read this as {str(v).lower()}; quote the value as it is in the file, e.g. positive: \"yes\"")
        return str(v) if isinstance(v, int | float) else v

    @field_validator("negative", mode="before")
    @classmethod
    def _as_texts(cls, v: object) -> object:
        items = [v] if isinstance(v, str | int | float) else v
        if isinstance(items, list | tuple):
            if any(isinstance(i, bool) for i in items):
                raise ValueError("YAML read a value as true/false; quote the values as they are in the file, e.g. negative: [\"no\"]")
            return tuple(str(i) if isinstance(i, int | float) else i for i in items)
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        if (self.flag is None) == (self.timestamp is None):
            raise ValueError("give exactly one of 'flag' (with 'positive') or 'timestamp' (with 'horizon_days')")
        if self.flag is not None and self.horizon_days is not None:
            raise ValueError("'horizon_days' applies to a 'timestamp' target, not a 'flag' target")
        if self.timestamp is not None and (self.positive is not None or self.negative is not None):
            raise ValueError("'positive' and 'negative' apply to a 'flag' target, not a 'timestamp' target")
        if self.negative is not None and self.positive_values() & self.negative_values():
            raise ValueError(f"a value cannot be both positive and negative: {sorted(self.positive_values() & self.negative_values())}")
        return self

    def positive_values(self) -> set[str]:
        if self.positive is None:
            return set(DEFAULT_POSITIVES)
        return {self.positive.strip().lower()}

    def negative_values(self) -> set[str]:
        return {v.strip().lower() for v in self.negative or ()}


class AttributeRoles(_Strict):
    categorical: tuple[str, ...] = Field((), description="Columns whose values are categories.")
    numeric: tuple[str, ...] = Field((), description="Columns whose values are numbers.")
    title: str | None = Field(None, description="A free-text job title column (normalised to seniority and department).")
    behaviour: tuple[str, ...] = Field((), description="Pre-aggregated activity counts (engagement features; more never lowers a score).")

    def all(self) -> list[str]:
        return [*self.categorical, *self.numeric, *([self.title] if self.title else []), *self.behaviour]


class DataConfig(_Strict):
    """Where the user's files are and what their columns mean."""

    leads: FileSource
    events: FileSource | None = Field(None, description="Events table in the data contract's columns (optional).")
    identities: FileSource | None = Field(None, description="Identity links in the data contract's columns (optional).")
    id_column: str | None = Field(None, description="Unique lead id column; default: the 1-based row number.")
    created_at_column: str | None = Field(None, description="When the lead was created; without it, row order is time order.")
    rename: dict[str, str] = Field(default_factory=dict, description="Your column → a data contract column (email, job_title, company_size, industry, country, source_channel, …).")
    attributes: AttributeRoles = AttributeRoles()
    drop: tuple[str, ...] = Field((), description="Columns never used (for example known only after the outcome).")
    keep: tuple[str, ...] = Field((), description="Columns kept even if the leakage guard flags them.")
    targets: dict[TargetName, TargetSpec] = Field(description="The targets that exist in this data (one or both).")

    @field_validator("targets")
    @classmethod
    def _some_target(cls, v: dict[str, TargetSpec]) -> dict[str, TargetSpec]:
        if not v:
            raise ValueError("at least one target (qualification or acquisition) is needed")
        return v

    @field_validator("rename")
    @classmethod
    def _contract_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [t for t in v.values() if t not in CONTRACT_LEAD_COLUMNS or t in ("lead_id", "created_at")]
        if bad:
            raise ValueError(
                f"rename targets must be data contract lead columns other than lead_id/created_at "
                f"(use id_column/created_at_column for those); not {bad}"
            )
        return v

    @model_validator(mode="after")
    def _roles_disjoint(self) -> DataConfig:
        seen: dict[str, str] = {}
        roles = {
            "attributes.categorical": self.attributes.categorical,
            "attributes.numeric": self.attributes.numeric,
            "attributes.title": (self.attributes.title,) if self.attributes.title else (),
            "attributes.behaviour": self.attributes.behaviour,
            "drop": self.drop,
        }
        for role, cols in roles.items():
            for c in cols:
                if c in seen:
                    raise ValueError(f"column {c!r} is in both {seen[c]} and {role}")
                seen[c] = role
        for spec in self.targets.values():
            for tc in (spec.flag, spec.timestamp):
                if tc is not None and tc in seen:
                    raise ValueError(f"target column {tc!r} cannot also be in {seen[tc]}")
        for key, col in (("id_column", self.id_column), ("created_at_column", self.created_at_column), *(("rename", c) for c in self.rename)):
            if col is not None and col in self.drop:
                raise ValueError(f"column {col!r} is in both {key} and drop")
        targets_of: dict[str, str] = {}
        for src, dst in self.rename.items():
            if dst in targets_of:
                raise ValueError(f"rename maps both {targets_of[dst]!r} and {src!r} to {dst!r}; keep one")
            targets_of[dst] = src
        if self.events is not None and self.created_at_column is None:
            raise ValueError("an events table needs created_at_column (event times are compared with lead creation)")
        return self

    @property
    def time_ordered_by_rows(self) -> bool:
        return self.created_at_column is None


def field_name(column: str) -> str:
    """A column name as an API field / feature name: letters, digits and underscores."""
    name = re.sub(r"\W+", "_", column.strip()).strip("_") or "column"
    return f"c_{name}" if name[0].isdigit() else name


@dataclass(frozen=True)
class AttributeSchema:
    """Which attribute features a pipeline builds, by role (stored in the bundle).

    ``standard`` lists the contract fit features in use (all of them for contract data);
    the extra roles hold field names (see :func:`field_name`); ``aliases`` maps a field
    name to the user's original column name, for the API. ``events`` says whether the
    event-based engagement features exist, ``lead_age`` whether days-since-creation does.
    """

    standard: tuple[str, ...] | None = None  # None: every contract fit feature
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    behaviour: tuple[str, ...] = ()
    events: bool = True
    lead_age: bool = True
    targets: tuple[str, ...] = ("qualification", "acquisition")
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def is_contract(self) -> bool:
        return (
            self.standard is None and not self.categorical and not self.numeric and not self.behaviour
            and self.events and self.lead_age
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "standard": None if self.standard is None else list(self.standard),
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "behaviour": list(self.behaviour),
            "events": self.events,
            "lead_age": self.lead_age,
            "targets": list(self.targets),
            "aliases": dict(self.aliases),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> AttributeSchema:
        if not d:
            return cls()
        std = d.get("standard")
        return cls(
            standard=None if std is None else tuple(std),
            categorical=tuple(d.get("categorical", ())),
            numeric=tuple(d.get("numeric", ())),
            behaviour=tuple(d.get("behaviour", ())),
            events=bool(d.get("events", True)),
            lead_age=bool(d.get("lead_age", True)),
            targets=tuple(d.get("targets", ("qualification", "acquisition"))),
            aliases=dict(d.get("aliases", {})),
        )

    def without(self, names: set[str]) -> AttributeSchema:
        """The schema with some extra attribute fields left out (the leakage guard)."""
        return AttributeSchema(
            standard=self.standard,
            categorical=tuple(c for c in self.categorical if c not in names),
            numeric=tuple(c for c in self.numeric if c not in names),
            behaviour=tuple(c for c in self.behaviour if c not in names),
            events=self.events,
            lead_age=self.lead_age,
            targets=self.targets,
            aliases=self.aliases,
        )


@dataclass
class Source:
    """Loaded user data: contract tables plus flag labels and the attribute schema."""

    tables: Tables
    schema: AttributeSchema
    flags: dict[str, np.ndarray]  # target → 1.0 / 0.0 / NaN (blank) per lead
    horizons: dict[str, float]  # timestamp targets → horizon in days
    row_order: bool
    columns: dict[str, str]  # field name of every user attribute → the user's column name
    kept: set[str] = field(default_factory=set)  # field names the leakage guard must keep


def resolve(path: str, base: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _in_user_terms(e: ContractError, config: DataConfig, renamed: Mapping[str, str]) -> ContractError:
    """A contract error on the leads or outcomes built from the user's file, naming the file's column."""
    if e.table == "leads" and e.column in CONTRACT_LEAD_COLUMNS:
        own = ({"lead_id": config.id_column, "created_at": config.created_at_column} | {d: s for s, d in renamed.items()}).get(e.column)
        return e.as_column(f"{own} (as {e.column})" if own else f"{e.column} (a data contract column, read by its name)")
    timestamps = {TIME_COLUMN_OF[t]: spec.timestamp for t, spec in config.targets.items() if spec.timestamp}
    if e.table == "outcomes" and e.column in timestamps:
        return e.as_column(f"{timestamps[e.column]} (as {e.column})", table="leads")
    return e


def _unique_names(names: list[str], table: str) -> list[str]:
    """``names`` (trimmed column names), or an error naming one that is there twice."""
    for name in dict.fromkeys(names):
        if name and names.count(name) > 1:  # blank header cells (stray spreadsheet columns) are pandas' "Unnamed: N"
            raise ContractError(table, name, f"{names.count(name)} columns have this name (once spaces around names are removed); rename all but one")
    return names


def _read(src: FileSource, base: Path | None, table: str) -> pd.DataFrame:
    path = resolve(src.path, base)
    if not path.exists():
        raise ContractError(table, None, f"file not found: {path}" + ("" if base else " (give the data directory with --data)"))
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # pandas renames a repeated header ("Segment", "Segment.1"): read the header as it is.
        header = [str(c).strip() for c in pd.read_csv(
            path, sep=src.separator, dtype=str, header=None, nrows=1, keep_default_na=False, encoding=src.encoding
        ).iloc[0]]
        _unique_names(header, table)
        return pd.read_csv(path, sep=src.separator, dtype=str, keep_default_na=False, na_values=[""], encoding=src.encoding)
    except ContractError:
        raise
    except UnicodeDecodeError as e:
        raise ContractError(table, None, f"file is not {src.encoding} text: {path} ({e.reason} at byte {e.start}); set encoding") from None
    except pd.errors.EmptyDataError:
        raise ContractError(table, None, f"file is empty: {path}") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ContractError(table, None, f"cannot read {path}: {e}") from None


def load_source(config: DataConfig, base: str | Path | None = None, for_scoring: bool = False) -> Source:
    """Read and validate the user's files as the config describes them.

    ``for_scoring``: the files of leads to score, which need no target columns (and may
    lack the dropped ones).
    """
    base_dir = Path(base) if base is not None else None
    leads_source = config.leads
    if base_dir is not None and base_dir.is_file():  # a leads file given directly (e.g. new leads to score)
        leads_source = config.leads.model_copy(update={"path": str(base_dir.resolve())})
        base_dir = base_dir.parent
    raw = _read(leads_source, base_dir, "leads")
    if len(raw) == 0:
        raise ContractError("leads", None, "table is empty (no data rows)")
    raw.columns = _unique_names([str(c).strip() for c in raw.columns], "leads")
    referenced = {
        "id_column": [config.id_column] if config.id_column else [],
        "created_at_column": [config.created_at_column] if config.created_at_column else [],
        "rename": list(config.rename),
        "attributes": config.attributes.all(),
        "drop": [] if for_scoring else list(config.drop),
        "keep": [] if for_scoring else list(config.keep),
        "targets": [] if for_scoring else [c for s in config.targets.values() for c in (s.flag, s.timestamp) if c],
    }
    for key, cols in referenced.items():
        missing = [c for c in cols if c not in raw.columns]
        if missing:
            raise ContractError("leads", missing[0], f"named in data.{key} but not in the leads file; its columns are {list(raw.columns)}")
    raw = raw.drop(columns=[c for c in config.drop if c in raw.columns])
    n = len(raw)

    leads = pd.DataFrame(index=range(n))
    leads["lead_id"] = raw[config.id_column] if config.id_column else [str(i + 1) for i in range(n)]
    if config.created_at_column:
        leads["created_at"] = raw[config.created_at_column]
    else:
        leads["created_at"] = ROW_ORDER_EPOCH + pd.to_timedelta(np.arange(n), unit="s")
    renamed = dict(config.rename)
    if config.attributes.title:
        renamed[config.attributes.title] = "job_title"
    declared = set(config.attributes.all())
    for col in CONTRACT_LEAD_COLUMNS[2:]:
        if col in raw.columns and col not in declared and col not in renamed.values() and col not in leads:
            leads[col] = raw[col]
    for src, dst in renamed.items():
        if dst in raw.columns and dst != src and dst not in renamed:
            raise ContractError("leads", src, f"renamed to {dst!r}, but the file also has a column {dst!r}; drop one of them (data.drop)")
        leads[dst] = raw[src]
    standard_sources = [c for c in CONTRACT_LEAD_COLUMNS[2:] if c in leads]
    try:
        leads = coerce_table(leads, LEADS, allow_empty=False)
    except ContractError as e:
        raise _in_user_terms(e, config, renamed) from None

    columns: dict[str, str] = {}
    built_in = {*_standard_features(standard_sources), *(("lead_age_days",) if config.created_at_column else ())}
    roles: dict[str, list[str]] = {"categorical": [], "numeric": [], "behaviour": []}
    for role in roles:
        for col in getattr(config.attributes, role):
            name = field_name(col)
            if name in CONTRACT_LEAD_COLUMNS or name in built_in:
                name = f"attr_{name}"  # a column of the user's named like a contract column or a built-in feature in use
            if name in columns:
                raise ContractError("leads", col, f"its field name {name!r} clashes with another column's; rename one of them")
            columns[name] = col
            roles[role].append(name)
            values = raw[col]
            if not for_scoring and values.notna().sum() == 0:
                raise ContractError("leads", col, f"declared in data.attributes.{role} but empty in every row; fill it or leave it out")
            if not for_scoring and role == "categorical" and n >= 100:
                distinct, filled = values.nunique(), int(values.notna().sum())
                if distinct > 0.5 * filled:
                    log.warning(
                        "leads.%s: declared categorical, but %s of its %s values are distinct (an id, an e-mail?): "
                        "as a category it carries next to nothing; leave it out or declare it otherwise",
                        col, f"{distinct:,}", f"{filled:,}",
                    )
            if role == "categorical":
                leads[name] = values.astype(object).where(values.notna(), None)
            else:
                num = pd.to_numeric(values, errors="coerce").astype("float64")
                _offending("leads", col, "wrong type: expected a number", values.notna().to_numpy() & num.isna().to_numpy(), values)
                _offending("leads", col, "not a finite number", ~np.isfinite(num.fillna(0).to_numpy()), values)
                if role == "behaviour":
                    _offending("leads", col, "a behaviour count cannot be negative", (num < 0).to_numpy(), values)
                leads[name] = num

    flags: dict[str, np.ndarray] = {}
    horizons: dict[str, float] = {}
    outcomes = pd.DataFrame({"lead_id": leads["lead_id"]})
    for target, spec in config.targets.items():
        if for_scoring:
            continue
        if spec.flag is not None:
            text = raw[spec.flag].astype(object)
            lowered = text.where(text.notna(), "").astype(str).str.strip().str.lower()
            known = (lowered != "").to_numpy()  # blank (or only spaces): unlabelled
            positive = lowered.isin(spec.positive_values()).to_numpy()
            if not positive.any():
                seen = sorted(set(lowered[known].tolist()))[:10]
                raise ContractError(
                    "leads", spec.flag,
                    f"no row has the positive value {sorted(spec.positive_values())} of target {target}; values seen: {seen}",
                )
            counts = lowered[known & ~positive].value_counts()
            if spec.negative is not None:
                known = known & (positive | lowered.isin(spec.negative_values()).to_numpy())
            elif spec.positive is None and set(counts.index) <= DEFAULT_NEGATIVES:
                pass  # the default yes and no spellings (1/true/yes/y, 0/false/no/n)
            elif len(counts) > 1:
                shown = ", ".join(f"{v!r} ({c:,} rows)" for v, c in counts.head(5).items())
                raise ContractError(
                    "leads", spec.flag,
                    f"besides the positive value {sorted(spec.positive_values())}, target {target}'s flag has "
                    f"{len(counts)} values: {shown}; list those that mean no under "
                    f"data.targets.{target}.negative (rows with any other value are then unlabelled)",
                )
            flags[target] = np.where(known, positive, np.nan).astype("float64")
            if np.nansum(flags[target]) == known.sum():
                raise ContractError(
                    "leads", spec.flag,
                    f"every labelled row has the positive value {sorted(spec.positive_values())} of target {target}: "
                    "a model needs negatives too",
                )
        else:
            if config.time_ordered_by_rows:
                raise ContractError("leads", spec.timestamp, f"target {target} is a timestamp, which needs data.created_at_column")
            outcomes[TIME_COLUMN_OF[target]] = raw[spec.timestamp]
            horizons[target] = float(spec.horizon_days or DEFAULT_HORIZONS_DAYS[FLAG_COLUMN_OF[target]])
    for flag_target, flag in flags.items():  # the funnel report reads flag outcomes too
        outcomes[FLAG_COLUMN_OF[flag_target]] = flag
    tables = Tables(leads=leads)
    if len(outcomes.columns) > 1:
        try:
            tables.outcomes = coerce_table(outcomes, OUTCOMES)
        except ContractError as e:
            raise _in_user_terms(e, config, renamed) from None
    for table, file, table_schema in (("events", config.events, EVENTS), ("identities", config.identities, IDENTITIES)):
        frame = empty_table(table_schema) if file is None else coerce_table(_read(file, base_dir, table), table_schema, allow_empty=False)
        setattr(tables, table, frame)
    try:
        check_relations(tables)
    except ContractError as e:
        raise _in_user_terms(e, config, renamed) from None
    has_events = config.events is not None
    schema = AttributeSchema(
        standard=_standard_features(standard_sources),
        categorical=tuple(roles["categorical"]),
        numeric=tuple(roles["numeric"]),
        behaviour=tuple(roles["behaviour"]),
        events=has_events,
        lead_age=not config.time_ordered_by_rows and (has_events or bool(horizons)),
        targets=tuple(config.targets),
        aliases={name: col for name, col in columns.items() if name != col},
    )
    kept = {name for name, col in columns.items() if col in config.keep}
    for col in config.keep:
        if not for_scoring and col not in columns.values():
            log.warning("data.keep lists %r, which is not a declared categorical, numeric or behaviour column: "
                        "the leakage guard judges only those, so keeping it changes nothing", col)
    return Source(tables, schema, flags, horizons, config.time_ordered_by_rows, columns, kept)


# The contract fields each contract fit feature is computed from (serving asks a
# bring-your-own-data model's callers for exactly these).
STANDARD_SOURCES: dict[str, tuple[str, ...]] = {
    "seniority": ("job_title",),
    "department": ("job_title",),
    "email_domain_type": ("email",),
    "company_size_band": ("company_size",),
    "industry": ("industry",),
    "country": ("country",),
    "region": ("country",),
    "source_channel": ("source_channel",),
    "company_size": ("company_size",),
    "email_matches_company": ("email", "company_domain"),
}


def _standard_features(present: list[str]) -> tuple[str, ...]:
    """The contract fit features that the present contract columns can feed."""
    return tuple(f for f, cols in STANDARD_SOURCES.items() if all(c in present for c in cols))
