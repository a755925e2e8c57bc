"""Bad data: training tables, configs and API requests that must be refused, clearly.

Each case asserts the message names what is wrong (table.column, config key, request
field) and that nothing was written (no tracking database, no artifacts) or changed (the
service still gives the same answer afterwards).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from leadscore.cli import main
from serving.schemas import example_request


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.generate import generate, write_dataset

    d = tmp_path_factory.mktemp("bad-data") / "clean"
    tables, oracle = generate(400, seed=3)
    write_dataset(tables, oracle, d)
    return d


def train_fails(data: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """``leadscore train`` on ``data`` must fail with exit 2 and write nothing; its message."""
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    result = CliRunner().invoke(main, ["train", "--data", str(data), *args])
    assert result.exit_code == 2, result.output
    assert not (tmp / "mlflow.db").exists() and not (tmp / "mlruns").exists()  # nothing written
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: "), result.output
    return lines[-1]


def _set(table: str, column: str, row: int, value: Any) -> Callable[[dict[str, pd.DataFrame]], None]:
    def change(t: dict[str, pd.DataFrame]) -> None:
        frame = t[table]
        if isinstance(value, str) and frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


def _duplicate_events(t: dict[str, pd.DataFrame]) -> None:
    t["events"] = pd.concat([t["events"], t["events"].iloc[[5, 9]]], ignore_index=True)


TABLE_CASES: dict[str, tuple[Callable[[dict[str, pd.DataFrame]], None], str]] = {
    "infinite company size": (_set("leads", "company_size", 3, np.inf), "leads.company_size: not a finite number"),
    "NaN created_at": (_set("leads", "created_at", 2, pd.NaT), "leads.created_at: required value is missing"),
    "missing lead_id": (_set("leads", "lead_id", 1, None), "leads.lead_id: required value is missing"),
    "negative company size": (_set("leads", "company_size", 4, -20.0), "leads.company_size: negative value"),
    "negative acquisition cost": (_set("leads", "acquisition_cost", 4, -1.5), "leads.acquisition_cost: negative value"),
    "negative deal value": (_set("outcomes", "deal_value", 0, -100.0), "outcomes.deal_value: negative value"),
    "event in year 9999": (_set("events", "timestamp", 7, "9999-12-31T00:00:00"), "events.timestamp: timestamp outside 1970–2099"),
    "lead created before 1970": (_set("leads", "created_at", 0, "1969-07-20T20:17:00"), "leads.created_at: timestamp outside 1970–2099"),
    "identity link at an unparseable time": (_set("identities", "timestamp", 0, "last tuesday"), "identities.timestamp: unparseable timestamp"),
    "10 MB job title": (_set("leads", "job_title", 0, "x" * 10_000_000), "leads.job_title: text longer than 10,000 characters"),
    "duplicated events": (_duplicate_events, "events: duplicated rows"),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_bad_training_table(clean_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    change, expected = TABLE_CASES[case]
    data = tmp_path / "data"
    shutil.copytree(clean_data, data)
    frames = {name: pd.read_parquet(data / f"{name}.parquet") for name in ("leads", "events", "identities", "outcomes")}
    change(frames)
    for name, frame in frames.items():
        (data / f"{name}.parquet").unlink()
        frame.to_csv(data / f"{name}.csv", index=False)  # text, as an export would hold it
    message = train_fails(data, tmp_path, monkeypatch)
    assert expected in message, message
    assert "row" in message  # and which rows


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_training_table_in_a_wrong_encoding(clean_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    data = tmp_path / "data"
    shutil.copytree(clean_data, data)
    leads = pd.read_parquet(data / "leads.parquet")
    leads.loc[0, "company_name"] = "Société Générale Ærø"
    (data / "leads.parquet").unlink()
    leads.to_csv(data / "leads.csv", index=False, encoding=encoding)
    message = train_fails(data, tmp_path, monkeypatch)
    assert "leads: file is not UTF-8 text" in message, message


CONFIG_CASES: dict[str, tuple[str, str]] = {
    "NaN learning rate": ("lightgbm:\n  learning_rate: .nan\n", "lightgbm.learning_rate"),
    "infinite rounds": ("lightgbm:\n  max_rounds: .inf\n", "lightgbm.max_rounds"),
    "negative leaves": ("lightgbm:\n  num_leaves: -3\n", "lightgbm.num_leaves"),
    "negative snapshot offsets": ("snapshots:\n  offsets_days: [0, -7]\n", "snapshots.offsets_days"),
    "10 MB experiment name": ("experiment: " + "x" * 10_000_000 + "\n", "experiment: String should have at most 250 characters"),
    "deeply nested": ("lightgbm: " + "[" * 50_000 + "\n", "nested too deeply"),
    "not UTF-8": ("experiment: caf\xe9\n", "not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(clean_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    text, expected = CONFIG_CASES[case]
    config = tmp_path / "config.yaml"
    config.write_bytes(text.encode("latin-1" if case == "not UTF-8" else "utf-8"))
    message = train_fails(clean_data, tmp_path, monkeypatch, "--config", str(config))
    assert expected in message, message
    assert len(message) < 2000  # the message quotes the problem, not the 10 MB


def test_bad_config_override(clean_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = train_fails(clean_data, tmp_path, monkeypatch, "--set", "split.test_fraction=.nan")
    assert "split.test_fraction" in message
    message = train_fails(clean_data, tmp_path, monkeypatch, "--set", "split.test_fraction")
    assert "--set expects KEY=VALUE, got 'split.test_fraction'" in message


def test_overrides_are_parsed_as_yaml() -> None:
    from training.config import ConfigError, parse_overrides

    assert parse_overrides(["lightgbm.num_leaves=7", "snapshots.offsets_days=[0, 2]", "experiment=a=b", "seed="]) == {
        "lightgbm.num_leaves": 7, "snapshots.offsets_days": [0, 2], "experiment": "a=b", "seed": None,
    }
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE, got 'seed'"):
        parse_overrides(["seed"])


# --- API requests ---------------------------------------------------------------------------


@pytest.fixture()
def api(client: Any) -> Any:
    """The service through its ASGI app (conftest's ``client``: at most 50 leads a batch)."""
    return client


def _json(encoding: str = "utf-8", **changes: Any) -> bytes:
    req = example_request()
    req.update(changes)
    return json.dumps(req, ensure_ascii=False).encode(encoding)


def _event(**changes: Any) -> bytes:
    req = example_request()
    req["events"][0].update(changes)
    return json.dumps(req).encode()


API_CASES: dict[str, tuple[bytes, int, list[Any]]] = {
    "NaN company size": (_json(company_size=float("nan")), 400, ["company_size"]),
    "infinite acquisition cost": (_json(acquisition_cost=float("inf")), 400, ["acquisition_cost"]),
    "minus infinite company size": (_json(company_size=float("-inf")), 400, ["company_size"]),
    "negative acquisition cost": (_json(acquisition_cost=-5), 400, ["acquisition_cost"]),
    "created in year 9999": (_json(created_at="9999-12-31T00:00:00"), 400, ["created_at"]),
    "as of before 1970": (_json(as_of="1969-12-31T23:59:59"), 400, ["as_of"]),
    "event in 1900": (_event(timestamp="1900-01-01T00:00:00"), 400, ["events", 0, "timestamp"]),
    "10 MB string": (_json(job_title="x" * 10_000_000), 413, ["body"]),
    "deeply nested JSON": (b'{"lead_id": "x", "created_at": "2024-05-01", "events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, ["body"]),
    "latin-1 body": (_json("latin-1", company_name="Société Générale"), 400, ["body"]),
    "UTF-16 body": (_json("utf-16"), 400, ["body"]),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_bad_api_request(api: Any, case: str) -> None:
    body, status, loc = API_CASES[case]
    before = api.post("/score", json=example_request()).json()["qualification"]["probability"]
    r = api.post("/score", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text[:500]
    locs = [d["loc"] for d in r.json()["detail"]]
    assert loc in locs, locs
    assert api.post("/score", json=example_request()).json()["qualification"]["probability"] == before  # nothing changed


def test_batch_of_100000_leads_is_refused(api: Any) -> None:
    lead = {"lead_id": "L", "created_at": "2024-05-01T00:00:00"}
    body = json.dumps([lead] * 100_000).encode()
    r = api.post("/score_batch", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    assert "at most 50 " in r.json()["error"] and r.json()["detail"][0]["loc"] == ["body"]
    assert api.post("/score_batch", json=[example_request()] * 3).status_code == 200
