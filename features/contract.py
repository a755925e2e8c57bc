"""The data contract: the four raw tables, how they are loaded and how they are validated.

Every table is a CSV or Parquet file in one directory (``leads``, ``events``,
``identities``, ``outcomes``). ``leads`` is required; the others may be absent (leads-only
data), but a file that is present must hold at least one row. Validation never repairs
data silently: it raises :class:`ContractError` naming the table, the column and a few
offending rows, before anything is written anywhere. Columns outside the contract pass
through untouched.

Timestamps are parsed to timezone-naive UTC ``datetime64[us]`` (microseconds, so dates far
from today do not overflow as nanoseconds would).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TIME_DTYPE = "datetime64[us]"
MAX_TEXT_CHARS = 10_000  # a longer cell is a mistake (a file pasted into a field), not a value
NON_NEGATIVE = frozenset({"company_size", "acquisition_cost", "deal_value"})  # counts and money
MIN_TIME = pd.Timestamp("1970-01-01")
MAX_TIME = pd.Timestamp("2100-01-01")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str", "float", "time"
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()
    distinct_rows: bool = False  # in a file, the same row twice is a double export, not data

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


LEADS = TableSchema(
    "leads",
    (
        Column("lead_id", "str", True, "unique id of the lead"),
        Column("created_at", "time", True, "when the lead was created (form fill, import)"),
        Column("email", "str"),
        Column("job_title", "str", description="free-text job title"),
        Column("company_name", "str"),
        Column("company_domain", "str"),
        Column("company_size", "float", description="number of employees"),
        Column("industry", "str"),
        Column("country", "str"),
        Column("source_channel", "str"),
        Column("campaign", "str"),
        Column("acquisition_cost", "float", description="cost of acquiring this lead"),
    ),
    unique=("lead_id",),
)
EVENTS = TableSchema(
    "events",
    (
        Column("timestamp", "time", True),
        Column("identifier", "str", True, "a lead_id, email, cookie or device id"),
        Column("event_type", "str", True),
        Column("channel", "str"),
        Column("device_type", "str"),
        Column("properties", "str", description="page or content, free text"),
    ),
    distinct_rows=True,
)
IDENTITIES = TableSchema(
    "identities",
    (
        Column("identifier_a", "str", True),
        Column("identifier_b", "str", True),
        Column("timestamp", "time", True),
        Column("source", "str", description="form_submit, login or crm_merge"),
    ),
)
OUTCOMES = TableSchema(
    "outcomes",
    (
        Column("lead_id", "str", True),
        Column("qualified_at", "time"),
        Column("acquired_at", "time"),
        Column("deal_value", "float", description="first-year revenue of the deal"),
    ),
    unique=("lead_id",),
)
SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (LEADS, EVENTS, IDENTITIES, OUTCOMES)}

EVENT_TYPES = (
    "page_view",
    "pricing_page_view",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "email_open",
    "email_click",
    "form_submit",
    "demo_request",
    "trial_signup",
)


class UserError(ValueError):
    """An error the user can fix (bad data, bad config, bad arguments); shown as one line."""


class ContractError(UserError):
    """Input that breaks the data contract. Names the table, the column and some rows."""

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        rows: Sequence[int] = (),
        values: Sequence[object] = (),
        total: int | None = None,
    ) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.rows = list(rows)
        self.values = list(values)
        self.total = total
        where = f"{table}.{column}" if column else table
        msg = f"{where}: {problem}"
        if self.rows:
            vals = list(values) + [None] * (len(self.rows) - len(values))
            shown = ", ".join(
                f"row {r + 1}" + (f" ({v!r})" if i < len(values) else "")
                for i, (r, v) in enumerate(zip(self.rows, vals, strict=True))
            )
            count = total if total is not None else len(self.rows)
            msg += f" — {count} row(s), e.g. {shown}"
        super().__init__(msg)

    def as_column(self, label: str, table: str | None = None) -> ContractError:
        """The same error, naming the column (and table) as the user knows them."""
        return ContractError(table or self.table, label, self.problem, self.rows, self.values, self.total)


def _offending(table: str, column: str | None, problem: str, mask: np.ndarray, values: pd.Series) -> None:
    """Raise for rows where ``mask`` is true (shown 1-based: the n-th data row of the file)."""
    idx = np.flatnonzero(mask)
    if len(idx):
        first = idx[:5]
        raise ContractError(
            table, column, problem, rows=[int(i) for i in first],
            values=[_short(values.iloc[i]) for i in first], total=len(idx),
        )


def _short(value: object) -> object:
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "..."
    return value


@dataclass
class Tables:
    """The four raw tables; absent ones are empty frames with the contract's columns."""

    leads: pd.DataFrame
    events: pd.DataFrame = field(default_factory=lambda: empty_table(EVENTS))
    identities: pd.DataFrame = field(default_factory=lambda: empty_table(IDENTITIES))
    outcomes: pd.DataFrame = field(default_factory=lambda: empty_table(OUTCOMES))

    def items(self) -> Iterable[tuple[str, pd.DataFrame]]:
        return (
            ("leads", self.leads),
            ("events", self.events),
            ("identities", self.identities),
            ("outcomes", self.outcomes),
        )


def empty_table(schema: TableSchema) -> pd.DataFrame:
    return pd.DataFrame(
        {c.name: pd.Series([], dtype=_dtype(c.kind)) for c in schema.columns}
    )


def _dtype(kind: str) -> str:
    return {"str": "object", "float": "float64", "time": TIME_DTYPE}[kind]


def find_table_file(directory: Path, name: str) -> Path | None:
    for ext in (".parquet", ".csv", ".csv.gz"):
        p = directory / f"{name}{ext}"
        if p.exists():
            return p
    return None


def read_table(path: Path, table: str) -> pd.DataFrame:
    """Read one CSV or Parquet file, turning every I/O failure into a ContractError."""
    path = Path(path)
    if not path.exists():
        raise ContractError(table, None, f"file not found: {path}")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # Strings stay strings: types are checked against the contract afterwards.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ContractError(table, None, f"file is empty: {path}") from None
    except UnicodeDecodeError as e:
        raise ContractError(table, None, f"file is not UTF-8 text: {path} ({e.reason} at byte {e.start})") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ContractError(table, None, f"cannot read {path}: {e}") from None


def load_tables(directory: str | Path, required: Sequence[str] = ("leads",)) -> Tables:
    """Load and validate the tables found in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError("leads", None, f"data directory not found: {directory}")
    frames: dict[str, pd.DataFrame] = {}
    for name, schema in SCHEMAS.items():
        path = find_table_file(directory, name)
        if path is None:
            if name in required:
                raise ContractError(
                    name, None, f"file not found: expected {name}.parquet or {name}.csv in {directory}"
                )
            frames[name] = empty_table(schema)
            continue
        frames[name] = coerce_table(read_table(path, name), schema, allow_empty=False)
        check_distinct_rows(frames[name], schema)
    tables = Tables(**frames)
    check_relations(tables)
    return tables


def coerce_table(df: pd.DataFrame, schema: TableSchema, allow_empty: bool = True) -> pd.DataFrame:
    """Check a raw frame against its schema and return it with contract types.

    The input is not modified. Extra columns pass through unchanged.
    """
    name = schema.name
    if len(df) == 0 and not allow_empty:
        raise ContractError(name, None, "table is empty (no data rows); omit the file if there is no data")
    missing = [c for c in schema.required if c not in df.columns]
    if missing:
        raise ContractError(
            name, missing[0],
            f"missing required column(s) {missing}; found columns {list(df.columns)}",
        )
    out = df.reset_index(drop=True).copy()
    for col in schema.columns:
        if col.name not in out.columns:
            out[col.name] = pd.Series([None] * len(out), dtype=_dtype(col.kind))
            continue
        raw = out[col.name]
        present = raw.notna().to_numpy()
        if col.kind == "str":
            conv = _as_text(raw)
            too_long = (conv.str.len() > MAX_TEXT_CHARS).fillna(False).to_numpy(dtype=bool)
            _offending(name, col.name, f"text longer than {MAX_TEXT_CHARS:,} characters", too_long, conv)
        elif col.kind == "float":
            conv = pd.to_numeric(raw, errors="coerce").astype("float64")
            _offending(name, col.name, "wrong type: expected a number", present & conv.isna().to_numpy(), raw)
            _offending(name, col.name, "not a finite number", ~np.isfinite(conv.fillna(0).to_numpy()), raw)
            if col.name in NON_NEGATIVE:
                _offending(name, col.name, "negative value (a count or an amount)", (conv < 0).to_numpy(), raw)
        else:
            conv = parse_times(raw, name, col.name)
        if col.required:
            if col.kind == "str":
                empty = ~present | (conv.fillna("").str.strip() == "").to_numpy()
            else:
                empty = conv.isna().to_numpy()
            _offending(name, col.name, "required value is missing", empty, raw)
        out[col.name] = conv
    for key in schema.unique:
        dup = out[key].duplicated(keep=False).to_numpy()
        _offending(name, key, f"duplicate {key}", dup, out[key])
    return out


def check_distinct_rows(df: pd.DataFrame, schema: TableSchema) -> None:
    """A file that repeats a row (a double export of the same event) is refused."""
    if schema.distinct_rows and len(df):
        cols = [c.name for c in schema.columns]
        dup = df.duplicated(subset=cols, keep="first").to_numpy()
        _offending(schema.name, None, f"duplicated rows (the same {', '.join(cols)}); remove the repeats", dup, df[cols[0]])


def _as_text(raw: pd.Series) -> pd.Series:
    """Text column: strings stay as they are; other values become their ``str``, by distinct value."""
    if pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object:
        return raw
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    text = np.array([v if isinstance(v, str) else str(v) for v in np.asarray(uniques, dtype=object).tolist()], dtype=object)
    out = np.full(len(raw), None, dtype=object)
    ok = codes >= 0
    out[ok] = text[codes[ok]]
    return pd.Series(out, index=raw.index, dtype=object)


def parse_times(raw: pd.Series, table: str, column: str) -> pd.Series:
    present = raw.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
        parsed = parsed.dt.tz_localize(None)
    parsed = parsed.astype(TIME_DTYPE)
    _offending(table, column, "unparseable timestamp (expected ISO 8601)", present & parsed.isna().to_numpy(), raw)
    out_of_range = (parsed.notna() & ((parsed < MIN_TIME) | (parsed >= MAX_TIME))).to_numpy()
    _offending(table, column, f"timestamp outside {MIN_TIME.year}–{MAX_TIME.year - 1}", out_of_range, raw)
    return parsed


def check_relations(tables: Tables) -> None:
    """Checks across tables: outcomes refer to known leads and follow lead creation."""
    leads, outcomes = tables.leads, tables.outcomes
    if len(outcomes) == 0:
        return
    known = outcomes["lead_id"].isin(leads["lead_id"]).to_numpy()
    _offending("outcomes", "lead_id", "outcome for an unknown lead", ~known, outcomes["lead_id"])
    created = outcomes["lead_id"].map(pd.Series(leads["created_at"].to_numpy(), index=leads["lead_id"]))
    for col in ("qualified_at", "acquired_at"):
        before = (outcomes[col] < created).fillna(False).to_numpy(dtype=bool)
        _offending("outcomes", col, f"{col} is before the lead's created_at", before, outcomes[col].astype(str))


def validate(tables: Tables) -> Tables:
    """Validate frames built in memory (for example by the generator or a test)."""
    frames = {
        name: coerce_table(df, SCHEMAS[name], allow_empty=(name != "leads"))
        for name, df in tables.items()
    }
    out = Tables(**frames)
    check_relations(out)
    return out


def write_tables(tables: Tables, directory: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write the tables. Files go to a temporary name first, so none looks complete early."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        path = directory / f"{name}.{fmt}"
        written.append(write_frame(df, path))
    return written


def write_frame(df: pd.DataFrame, path: Path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
