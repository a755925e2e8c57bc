"""The data contract rejects bad input with an error naming table, column and rows."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features.contract import ContractError, load_tables
from leadscore.cli import main


def _write(directory: Path, **tables: pd.DataFrame) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(directory / f"{name}.csv", index=False)
    return directory


def _leads(**overrides: list[object]) -> pd.DataFrame:
    data: dict[str, list[object]] = {
        "lead_id": ["L1", "L2", "L3"],
        "created_at": ["2024-01-01T10:00:00Z", "2024-01-02T11:00:00Z", "2024-01-03"],
        "email": ["a@acme.com", "b@gmail.com", None],
        "company_size": [120, 5, None],
        "crm_owner": ["ann", "bob", "cy"],  # an extra column
    }
    data.update(overrides)
    return pd.DataFrame(data)


def _snapshot(directory: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in directory.rglob("*")}


def _assert_rejected(directory: Path, table: str, column: str | None, words: str) -> ContractError:
    before = _snapshot(directory)
    with pytest.raises(ContractError) as info:
        load_tables(directory)
    err = info.value
    assert err.table == table
    assert err.column == column
    assert words in str(err)
    assert _snapshot(directory) == before, "validation must write nothing"
    return err


def test_valid_tables_load_with_contract_types_and_extra_columns(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {"timestamp": ["2024-01-01T09:00:00Z"], "identifier": ["ck_1"], "event_type": ["page_view"], "utm": ["x"]}
    )
    d = _write(tmp_path / "d", leads=_leads(), events=events)
    t = load_tables(d)
    assert str(t.leads["created_at"].dtype) == "datetime64[us]"
    assert t.leads["company_size"].dtype == "float64"
    assert list(t.leads["crm_owner"]) == ["ann", "bob", "cy"]
    assert list(t.events["utm"]) == ["x"]
    assert len(t.identities) == 0 and len(t.outcomes) == 0  # absent tables are empty
    # Timezones are converted to naive UTC.
    assert t.leads["created_at"].iloc[0] == pd.Timestamp("2024-01-01 10:00:00")


def test_parquet_is_read_too(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    _leads().to_parquet(d / "leads.parquet")
    assert len(load_tables(d).leads) == 3


def test_missing_required_column(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads().drop(columns=["created_at"]))
    err = _assert_rejected(d, "leads", "created_at", "missing required column")
    assert "found columns" in str(err)


def test_wrong_type_names_rows_and_values(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads(company_size=[10, "many", "12x"]))
    err = _assert_rejected(d, "leads", "company_size", "expected a number")
    assert err.rows == [1, 2]
    assert "'many'" in str(err) and "row 2" in str(err)


def test_unparseable_timestamp(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads(created_at=["2024-01-01", "yesterday", "2024-02-30"]))
    err = _assert_rejected(d, "leads", "created_at", "unparseable timestamp")
    assert err.rows == [1, 2]


def test_duplicate_lead_id(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads(lead_id=["L1", "L2", "L1"]))
    err = _assert_rejected(d, "leads", "lead_id", "duplicate lead_id")
    assert err.rows == [0, 2]


def test_outcome_for_unknown_lead(tmp_path: Path) -> None:
    outcomes = pd.DataFrame({"lead_id": ["L1", "L9"], "qualified_at": ["2024-01-05", None]})
    d = _write(tmp_path / "d", leads=_leads(), outcomes=outcomes)
    err = _assert_rejected(d, "outcomes", "lead_id", "unknown lead")
    assert "'L9'" in str(err)


@pytest.mark.parametrize("column", ["qualified_at", "acquired_at"])
def test_outcome_before_creation(tmp_path: Path, column: str) -> None:
    outcomes = pd.DataFrame({"lead_id": ["L1", "L2"], column: ["2024-01-05", "2023-12-31"]})
    d = _write(tmp_path / "d", leads=_leads(), outcomes=outcomes)
    err = _assert_rejected(d, "outcomes", column, "before the lead's created_at")
    assert err.rows == [1]


def test_empty_table(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads(), events=pd.DataFrame(columns=["timestamp", "identifier", "event_type"]))
    _assert_rejected(d, "events", None, "empty")


def test_required_value_missing(tmp_path: Path) -> None:
    events = pd.DataFrame({"timestamp": ["2024-01-01", "2024-01-02"], "identifier": ["ck", None], "event_type": ["x", "y"]})
    d = _write(tmp_path / "d", leads=_leads(), events=events)
    _assert_rejected(d, "events", "identifier", "required value is missing")


def test_file_not_found(tmp_path: Path) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    _assert_rejected(d, "leads", None, "file not found")
    with pytest.raises(ContractError, match="data directory not found"):
        load_tables(tmp_path / "nope")


def test_unreadable_file(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "leads.parquet").write_bytes(b"this is not parquet")
    _assert_rejected(d, "leads", None, "cannot read")


def test_not_utf8(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "leads.csv").write_bytes("lead_id,created_at,job_title\nL1,2024-01-01,Gesch\xe4ftsf\xfchrer\n".encode("latin-1"))
    _assert_rejected(d, "leads", None, "not UTF-8")


def test_cli_validate_reports_error_and_writes_nothing(tmp_path: Path) -> None:
    d = _write(tmp_path / "d", leads=_leads(lead_id=["L1", "L1", "L3"]))
    before = _snapshot(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["validate", "--data", str(d)])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2
    assert "leads.lead_id: duplicate lead_id" in result.output
    assert "Traceback" not in result.output
    assert _snapshot(tmp_path) == before


def test_cli_train_on_bad_data_writes_nothing(tmp_path: Path) -> None:
    """Validation runs before MLflow is touched: no tracking database, no run, no files."""
    d = _write(tmp_path / "d", leads=_leads(created_at=["2024-01-01", "not a date", "2024-01-03"]))
    before = _snapshot(tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    env_uri = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        result = CliRunner().invoke(main, ["train", "--data", str(d)])
    finally:
        os.chdir(cwd)
        if env_uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env_uri
    assert result.exit_code == 2, result.output
    assert "leads.created_at: unparseable timestamp" in result.output
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "mlflow.db").exists()
