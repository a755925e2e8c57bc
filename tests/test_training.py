"""Training and the registry, end to end on a real SQLite-backed MLflow and real LightGBM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from features.generate import generate, write_dataset
from training.config import load_config

REPO = Path(__file__).resolve().parent.parent
QUICK = {"lightgbm.max_rounds": 300, "lightgbm.learning_rate": 0.1, "lightgbm.early_stopping_rounds": 30}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tracking database, generated data and a first training run (the champion)."""
    import mlflow

    from training.train import run

    root = tmp_path_factory.mktemp("training")
    data = root / "data"
    tables, oracle = generate(5000, seed=11)
    write_dataset(tables, oracle, data)
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        first = run(data, load_config(None, QUICK))
        yield {"root": root, "data": data, "first": first, "tables": tables}
    finally:
        os.chdir(cwd)
        mlflow.end_run()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _aliases() -> dict[str, str]:
    from training.registry import alias_version

    return {a: alias_version("lead-scoring", a) for a in ("champion", "challenger")}  # type: ignore[misc]


def test_first_model_is_logged_registered_and_champion(env: dict[str, Any]) -> None:
    first = env["first"]
    assert first["version"] == "1"
    assert first["gate"]["decision"] == "promoted"
    assert _aliases() == {"champion": "1", "challenger": "1"}
    run = _client().get_run(first["run_id"])
    assert run.info.status == "FINISHED"
    for t in ("qualification", "acquisition"):
        for m in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10", "capture_top10", "ks", "oracle_roc_auc", "oracle_gap_se", "best_baseline_roc_auc"):
            assert f"{t}_{m}" in run.data.metrics, f"{t}_{m} not logged"
        assert 0 < run.data.metrics[f"{t}_oracle_gap_se"] < 0.1
        # What the model learned held on the validation period, so training warned of nothing.
        assert run.data.metrics[f"{t}_validation_auc"] > 0.7 and run.data.metrics[f"{t}_early_stopped_rounds"] >= 10
        assert f"leadscore.{t}.validation_warning" not in run.data.tags
    assert first["validation_warnings"] == {}
    assert run.data.params["lightgbm.num_leaves"] == str(load_config(None).lightgbm.num_leaves)
    assert run.data.params["acquisition.num_leaves"] == run.data.params["lightgbm.num_leaves"]  # the size kept
    assert "data.qualification.test_start" in run.data.params
    assert len(run.inputs.dataset_inputs) == 1
    artifacts = {a.path for a in _client().list_artifacts(first["run_id"], "plots")}
    for t in ("qualification", "acquisition"):
        for kind in ("roc_pr", "reliability", "gain", "importance", "reasons"):
            assert f"plots/{t}_{kind}.png" in artifacts
    # Baselines are nested runs with the same metric names, for side-by-side comparison.
    children = _client().search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{first['run_id']}'"
    )
    assert {c.data.tags["leadscore.baseline"] for c in children} == {"scorecard", "logistic", "naive_bayes"}
    assert all("qualification_roc_auc" in c.data.metrics for c in children)


def test_quality_floor_close_to_the_oracle(env: dict[str, Any]) -> None:
    first = env["first"]
    for t in ("qualification", "acquisition"):
        auc, oracle = first["metrics"][t]["roc_auc"], first["oracle_auc"][t]
        assert auc > 0.72, (t, auc)
        assert auc >= oracle - 0.09, (t, auc, oracle)
        assert auc > first["baselines"][t]["scorecard"] + 0.03
        assert first["metrics"][t]["ece"] < 0.05


def test_training_is_deterministic(env: dict[str, Any]) -> None:
    from features.contract import load_tables
    from training.train import train_bundle

    tables = load_tables(env["data"])
    config = load_config(None, {**QUICK, "targets": ["qualification"]})
    a = train_bundle(tables, config)
    b = train_bundle(tables, config)
    assert a.bundle.targets["qualification"].booster.model_to_string() == b.bundle.targets["qualification"].booster.model_to_string()
    assert a.metrics == b.metrics


def _lead(**extra: Any) -> dict[str, Any]:
    as_of = datetime(2024, 12, 1, 12)
    lead = {
        "lead_id": "behave-1",
        "created_at": as_of - timedelta(days=2),
        "email": "pat.lee@northwind-analytics.com",
        "company_domain": "northwind-analytics.com",
        "company_name": "Northwind Analytics",
        "job_title": "Marketing Manager",
        "company_size": 300,
        "industry": "Software",
        "country": "US",
        "source_channel": "organic_search",
        "events": [
            {"timestamp": as_of - timedelta(days=1, hours=h), "event_type": "page_view", "identifier": "ck_b1", "channel": "web"}
            for h in range(3)
        ],
        "as_of": as_of,
    }
    lead.update(extra)
    return lead


def _p(bundle: Any, lead: dict[str, Any], target: str = "qualification") -> float:
    events = lead["events"]
    attrs = {k: v for k, v in lead.items() if k not in ("events", "as_of")}
    return float(bundle.score_one(attrs, events, lead["as_of"], reasons=False)[target]["probability"])


@pytest.fixture(scope="module")
def champion(env: dict[str, Any]) -> Any:
    from training.registry import load_bundle

    return load_bundle("models:/lead-scoring@champion")


def test_direction_more_intent_never_lowers_qualification(env: dict[str, Any], champion: Any) -> None:
    from features.contract import load_tables
    from features.snapshots import build_snapshots

    tables = load_tables(env["data"])
    snaps = build_snapshots(tables).sample(150, random_state=0)
    lowered = []
    for _, s in snaps.iterrows():
        row = tables.leads.iloc[int(s["lead"])]
        lead = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        lead.update(events=[], as_of=s["as_of"].to_pydatetime())
        base = _p(champion, lead)
        for kind in ("demo_request", "pricing_page_view"):
            extra = [{"timestamp": lead["as_of"] - timedelta(hours=1 + i), "event_type": kind, "identifier": lead["lead_id"], "channel": "web"} for i in range(2)]
            if _p(champion, {**lead, "events": extra}) < base - 1e-12:
                lowered.append((lead["lead_id"], kind))
    assert not lowered


def test_invariance_to_lead_id_and_company_name(champion: Any) -> None:
    base = _p(champion, _lead())
    assert _p(champion, _lead(lead_id="something-else-42")) == base
    assert _p(champion, _lead(company_name="Totally Different GmbH")) == base


def test_minimum_functionality_hot_lead_outranks_cold_lead(champion: Any) -> None:
    as_of = datetime(2024, 12, 1, 12)
    hot = _lead(
        job_title="VP of Marketing",
        company_size=2000,
        events=[
            {"timestamp": as_of - timedelta(hours=5), "event_type": "demo_request", "identifier": "ck_hot", "channel": "web"},
            {"timestamp": as_of - timedelta(hours=6), "event_type": "pricing_page_view", "identifier": "ck_hot", "channel": "web"},
        ],
    )
    cold = _lead(job_title="Student", email="someone123@gmail.com", company_domain=None, company_size=None, industry=None, events=[])
    for target in ("qualification", "acquisition"):
        assert _p(champion, hot, target) > _p(champion, cold, target)


def test_pyfunc_gives_the_bundle_probabilities(env: dict[str, Any], champion: Any) -> None:
    import mlflow

    model = mlflow.pyfunc.load_model("models:/lead-scoring@champion")
    leads = [_lead(), _lead(lead_id="b", job_title="CTO", events=[])]
    out = model.predict(leads)
    for lead, answer in zip(leads, out, strict=True):
        for t in ("qualification", "acquisition"):
            assert answer[t]["probability"] == pytest.approx(_p(champion, lead, t), abs=1e-12)
        assert answer["model"] == {"name": "lead-scoring", "version": "1"}


def test_gate_refuses_a_worse_model_then_promote_and_rollback(env: dict[str, Any]) -> None:
    from training.registry import rollback, set_champion
    from training.train import run

    # Shuffled outcomes: the labels no longer belong to their leads.
    bad = env["root"] / "shuffled"
    shutil.copytree(env["data"], bad)
    outcomes = pd.read_parquet(bad / "outcomes.parquet")
    leads = pd.read_parquet(bad / "leads.parquet")
    rng = np.random.default_rng(0)
    outcomes["lead_id"] = rng.permutation(outcomes["lead_id"].to_numpy())
    created = outcomes["lead_id"].map(leads.set_index("lead_id")["created_at"])
    for col in ("qualified_at", "acquired_at"):  # keep the contract: no outcome before creation
        outcomes[col] = outcomes[col].where(outcomes[col] > created, created + pd.Timedelta(days=1))
        outcomes.loc[outcomes[col] >= leads["created_at"].max(), col] = pd.NaT
    outcomes.to_parquet(bad / "outcomes.parquet")
    second = run(bad, load_config(None, QUICK))
    assert second["version"] == "2"
    assert second["gate"]["decision"] == "rejected", second["gate"]
    assert _aliases() == {"champion": "1", "challenger": "2"}
    tags = _client().get_model_version("lead-scoring", "2").tags
    assert tags["leadscore.gate.decision"] == "rejected"
    assert "AUC" in tags["leadscore.gate.reason"]

    set_champion("lead-scoring", "2", "forced: test")
    assert _aliases()["champion"] == "2"
    assert rollback("lead-scoring") == ("2", "1")
    assert _aliases()["champion"] == "1"


def test_interrupted_run_is_failed_and_moves_no_alias(env: dict[str, Any]) -> None:
    from training.train import run

    before = _aliases()

    def interrupt(message: str) -> None:
        if message.startswith("registered"):
            raise KeyboardInterrupt("simulated Ctrl-C after registration, before the aliases")

    with pytest.raises(KeyboardInterrupt):
        run(env["data"], load_config(None, QUICK), progress=interrupt)
    assert _aliases() == before
    runs = _client().search_runs(
        [_client().get_experiment_by_name("lead-scoring").experiment_id],
        filter_string="tags.`leadscore.role` = 'model'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert runs[0].info.status == "FAILED"


def test_cli_evaluate_and_bad_config(env: dict[str, Any], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from leadscore.cli import main

    result = CliRunner().invoke(main, ["evaluate", "--model", "models:/lead-scoring/1", "--data", str(env["data"])])
    assert result.exit_code == 0, result.output
    assert '"roc_auc"' in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("lightgbm:\n  num_leavs: 3\n")
    result = CliRunner().invoke(main, ["train", "--data", str(env["data"]), "--config", str(bad)])
    assert result.exit_code == 2
    assert "lightgbm.num_leavs" in result.output and "Extra inputs are not permitted" in result.output


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env


def test_mlflow_run_train_entry_point(env: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "quick.yaml"
    config.write_text(yaml.safe_dump({"lightgbm": {"max_rounds": 100, "learning_rate": 0.2}, "targets": ["qualification"]}))
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    versions_before = len(_client().search_model_versions("name='lead-scoring'"))
    proc = subprocess.run(
        [str(mlflow_bin), "run", str(REPO), "-e", "train", "--env-manager", "local", "--experiment-name", "lead-scoring",
         "-P", f"data={env['data']}", "-P", f"config={config}"],
        capture_output=True, text=True, timeout=600, env=_clean_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_client().search_model_versions("name='lead-scoring'")) == versions_before + 1


def test_mlflow_run_generate_entry_point(tmp_path: Path) -> None:
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    env = {**_clean_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    out = tmp_path / "generated"
    proc = subprocess.run(
        [str(mlflow_bin), "run", str(REPO), "-e", "generate", "--env-manager", "local", "-P", "leads=300", "-P", f"out={out}"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "leads.parquet").exists() and (out / "oracle.parquet").exists()
