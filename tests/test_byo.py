"""Bring your own data: a config maps a CRM export (made here) onto the data contract.

Covers leads-only data, flag and timestamp targets, one target only, the row-order split,
pre-aggregated behaviour columns, categories never seen in training, the leakage guard,
bad configs, and that such a model trains in MLflow and is served (a real ``bentoml
serve``), scored in batch and loaded as a pyfunc with the same answers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_helpers import exe, free_port, stop, wait_ready

from features.contract import ContractError
from training.config import ConfigError, load_config

N = 4000


def crm_export(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A leads-only CRM export with its own column names and a planted signal."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["smb", "mid market", "enterprise"], n, p=[0.6, 0.3, 0.1])
    visits = rng.poisson(2.0, n).astype(float)
    fit = rng.normal(0, 1, n)
    z = -2.2 + 0.9 * (segment == "enterprise") + 0.35 * visits + 0.8 * fit
    won = rng.random(n) < 1 / (1 + np.exp(-z))
    titles = rng.choice(["VP Sales", "Student", "Marketing Manager", "CEO", "Intern"], n)
    df = pd.DataFrame(
        {
            "Lead Number": [f"crm-{i:05d}" for i in range(n)],
            "Title": titles,
            "Segment": segment,
            "fit.index": np.round(fit, 3),
            "Site visits (30d)": visits,
            "Won?": np.where(won, "Y", "N"),
            # Known only after the deal: filled in for winners only.
            "Contract no": np.where(won, [f"K{i}" for i in range(n)], ""),
            # A post-outcome number: alone it gives the answer away.
            "Days to close": np.where(won, rng.integers(5, 60, n), 0).astype(float) + rng.random(n) * 0.1,
        }
    )
    return df


def byo_config(path: Path, **extra: Any) -> dict[str, Any]:
    data = {
        "leads": {"path": str(path), "separator": ";"},
        "id_column": "Lead Number",
        "attributes": {
            "categorical": ["Segment", "Contract no"],
            "numeric": ["fit.index", "Days to close"],
            "title": "Title",
            "behaviour": ["Site visits (30d)"],
        },
        "targets": {"acquisition": {"flag": "Won?", "positive": "y"}},
    }
    data.update(extra)
    return {"data": data, "split": {"by": "row_order", "test_fraction": 0.2}, "lightgbm": {"max_rounds": 200, "min_data_in_leaf": 50}}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("crm")
    crm_export().to_csv(d / "crm.csv", sep=";", index=False)
    return d / "crm.csv"


def config_from(d: dict[str, Any], tmp_path: Path) -> Any:
    import yaml

    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    return load_config(p)


def test_leads_only_flag_target_row_order(export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from training.train import load_training_data, train_bundle

    config = config_from(byo_config(export), tmp_path)
    assert config.targets == ("acquisition",)  # the targets the data has
    data = load_training_data(None, config)
    assert len(data.tables.events) == 0 and data.source is not None
    assert data.tables.leads["lead_id"].iloc[0] == "crm-00000"
    with caplog.at_level(logging.WARNING):
        result = train_bundle(data.tables, config, source=data.source)
    # The leakage guard names both leaky columns and leaves them out.
    excluded = result.info["leakage_excluded"]
    assert set(excluded) == {"Contract_no", "Days_to_close"}
    assert "only for positives" in excluded["Contract_no"] and "AUC" in excluded["Days_to_close"]
    assert "Contract_no" in caplog.text and "LEAKAGE GUARD" in caplog.text
    names = result.bundle.pipeline.feature_names_
    assert "Contract_no" not in names and "Days_to_close" not in names
    # Declared roles → features: title → seniority/department, behaviour → engagement.
    assert {"seniority", "department", "Segment", "fit_index", "Site_visits_30d"} <= set(names)
    assert not any(n.startswith("n_page_view") for n in names) and "lead_age_days" not in names
    info = {f.name: f for f in result.bundle.pipeline.features_}
    assert info["Site_visits_30d"].family == "engagement" and info["Site_visits_30d"].direction == 1
    assert info["fit_index"].label == "fit.index"
    # Row order: the test period is the last 20% of rows.
    sp = result.splits["acquisition"]
    lead = result.snapshots["lead"].to_numpy()
    assert lead[sp.test].min() > lead[sp.valid].max() > lead[sp.train].max()
    assert abs(sp.test.sum() - 0.2 * N) <= 1
    assert list(result.bundle.targets) == ["acquisition"]
    m = result.metrics["acquisition"]
    assert m["roc_auc"] > 0.7, m  # the planted signal is found
    assert m["roc_auc"] > max(b["roc_auc"] for b in result.baseline_metrics["acquisition"].values()) - 0.03
    assert "scorecard" in result.baseline_metrics["acquisition"]  # it scores seniority (from the title)
    # What it learned held on the validation period: no warning.
    assert m["validation_auc"] > 0.7 and m["early_stopped_rounds"] >= 10, m
    assert result.info["validation_warnings"] == {}


def test_a_relation_that_turns_round_at_validation_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the segment that won in the training period loses from the validation period on,
    early stopping keeps almost nothing: training says so, naming the column, on the
    progress stream, in the run's summary and as a tag on the MLflow run."""
    import mlflow

    from training.train import load_training_data, run, train_bundle

    df = crm_export()
    later = np.arange(N) >= int(0.65 * N)  # validation and test periods (row order)
    enterprise = df["Segment"].eq("enterprise").to_numpy()
    rng = np.random.default_rng(1)
    p = np.where(enterprise, np.where(later, 0.01, 0.5), np.where(later, 0.12, 0.06))  # enterprise wins early, loses later
    df["Won?"] = np.where(rng.random(N) < p, "Y", "N")
    df["fit.index"] = np.round(rng.normal(0, 1, N), 3)  # no signal elsewhere
    df["Site visits (30d)"] = rng.poisson(2.0, N).astype(float)
    df = df.drop(columns=["Contract no", "Days to close"])
    (tmp_path / "flip").mkdir()
    df.to_csv(tmp_path / "flip" / "crm.csv", sep=";", index=False)
    d = byo_config(tmp_path / "flip" / "crm.csv", experiment="flip", registered_model="flip-model")
    d["experiment"], d["registered_model"] = d["data"].pop("experiment"), d["data"].pop("registered_model")
    d["data"]["attributes"] = {"categorical": ["Segment"], "numeric": ["fit.index"], "behaviour": ["Site visits (30d)"]}
    config = config_from(d, tmp_path)
    data = load_training_data(None, config)
    lines: list[str] = []
    result = train_bundle(data.tables, config, source=data.source, progress=lines.append)
    m = result.metrics["acquisition"]
    assert m["validation_auc"] < 0.55 and m["early_stopped_rounds"] < 10, m
    warning = result.info["validation_warnings"]["acquisition"]
    assert f"validation AUC {m['validation_auc']:.3f}" in warning
    assert f"early stopping kept {int(m['early_stopped_rounds'])} of up to 200 boosting rounds at learning rate 0.05" in warning
    # Segment is named first, with its AUC on each period: above 0.5, then below; the
    # columns without signal are not named.
    named = re.search(r"fell most from training to validation: Segment \(AUC ([0-9.]+) on training, ([0-9.]+) on validation\)", warning)
    assert named and float(named.group(1)) > 0.6 and float(named.group(2)) < 0.5, warning
    assert "fit.index" not in warning and "Site visits" not in warning, warning
    assert [line for line in lines if line.startswith("WARNING ")] == [f"WARNING {warning}"]
    assert result.bundle.metadata["validation_warnings"] == {"acquisition": warning}
    # Through the tracked job: the warning is a tag on the run and part of the summary.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        summary = run(None, config)
        run_data = mlflow.get_run(summary["run_id"]).data
    finally:  # the job points MLflow's process-wide URIs at this store: put them back
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    assert summary["validation_warnings"] == {"acquisition": warning}
    assert run_data.tags["leadscore.acquisition.validation_warning"] == warning
    assert run_data.metrics["acquisition_validation_auc"] == pytest.approx(m["validation_auc"])


def test_tree_size_is_chosen_by_validation_log_loss(export: Path, tmp_path: Path) -> None:
    from training.train import load_training_data, train_bundle

    d = byo_config(export)
    d["lightgbm"]["num_leaves_candidates"] = [2, 31]
    config = config_from(d, tmp_path)
    data = load_training_data(None, config)
    lines: list[str] = []
    result = train_bundle(data.tables, config, source=data.source, progress=lines.append)
    tried = {
        int(m.group(1)): float(m.group(2))
        for m in (re.search(r"acquisition: (\d+) leaves, validation log loss ([0-9.]+)", line) for line in lines)
        if m
    }
    assert set(tried) == {2, 15, 31}  # the candidates and the configured size
    kept = [int(m.group(1)) for m in (re.search(r"acquisition: keeping (\d+) leaves", line) for line in lines) if m]
    assert len(kept) == 1 and tried[kept[0]] == min(tried.values())
    assert result.metrics["acquisition"]["num_leaves"] == kept[0]
    booster = result.bundle.targets["acquisition"].booster
    assert booster.params["num_leaves"] == kept[0]
    # The refit on training + validation grew trees of that size, not the configured one.
    assert max(t["num_leaves"] for t in booster.dump_model()["tree_info"]) <= kept[0]
    # Without candidates nothing is tried beyond num_leaves.
    lines.clear()
    plain = train_bundle(data.tables, config_from(byo_config(export), tmp_path), source=data.source, progress=lines.append)
    assert not any("leaves, validation log loss" in line for line in lines)
    assert plain.metrics["acquisition"]["num_leaves"] == 15


def test_keep_overrides_the_leakage_guard(export: Path, tmp_path: Path) -> None:
    from training.train import load_training_data, train_bundle

    config = config_from(byo_config(export, keep=["Days to close"]), tmp_path)
    data = load_training_data(None, config)
    result = train_bundle(data.tables, config, source=data.source)
    assert "Days_to_close" in result.bundle.pipeline.feature_names_
    assert set(result.info["leakage_excluded"]) == {"Contract_no"}


def test_timestamp_and_flag_targets_with_unseen_categories(tmp_path: Path) -> None:
    """Both targets, one as a timestamp with a horizon, one as a flag; scoring meets new categories."""
    from features.source import load_source
    from training.train import load_training_data, train_bundle

    df = crm_export(3000, seed=1).drop(columns=["Contract no", "Days to close"])
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(df)) * 2, unit="h")
    df["Created"] = created.strftime("%Y-%m-%dT%H:%M:%S")
    won = df["Won?"] == "Y"
    df["SQL date"] = np.where(won | (np.arange(len(df)) % 7 == 0), (created + pd.Timedelta(days=3)).strftime("%Y-%m-%d"), "")
    df.to_csv(tmp_path / "crm.csv", sep=";", index=False)
    d = byo_config(tmp_path / "crm.csv", created_at_column="Created")
    d["data"]["attributes"] = {"categorical": ["Segment"], "numeric": ["fit.index"], "behaviour": ["Site visits (30d)"]}
    d["data"]["targets"] = {
        "qualification": {"timestamp": "SQL date", "horizon_days": 14},
        "acquisition": {"flag": "Won?", "positive": "Y"},
    }
    d["split"] = {"by": "time"}
    config = config_from(d, tmp_path)
    assert config.targets == ("qualification", "acquisition")
    data = load_training_data(None, config)
    result = train_bundle(data.tables, config, source=data.source)
    snaps = result.snapshots
    assert snaps["y_acquired"][snaps["offset_days"] > 0].isna().all()  # a flag labels creation only
    assert snaps["y_qualified"].notna().sum() > snaps["y_acquired"].notna().sum()
    assert "lead_age_days" in result.bundle.pipeline.feature_names_
    assert result.metrics["acquisition"]["roc_auc"] > 0.65
    assert "scorecard" not in result.baseline_metrics["acquisition"]  # none of its columns exist here
    # Scoring: a segment never seen in training maps to "other", online and in batch.
    bundle = result.bundle
    new = df.head(3).copy()
    new["Segment"] = ["public sector", "smb", None]
    new.drop(columns=["Won?", "SQL date"]).to_csv(tmp_path / "new.csv", sep=";", index=False)
    tables = load_source(config.data, tmp_path / "new.csv", for_scoring=True).tables
    snaps_new = pd.DataFrame({"lead": np.arange(3), "as_of": tables.leads["created_at"].to_numpy()})
    X = bundle.pipeline.transform(tables, snaps_new)
    j = bundle.pipeline.feature_names_.index("Segment")
    assert bundle.pipeline.category_maps_["Segment"].categories[int(X[0, j])] == "other"
    assert np.isnan(X[2, j])
    from serving.scorer import Scorer

    scorer = Scorer(bundle)
    for i in range(3):
        row = tables.leads.iloc[i]
        req = {
            "lead_id": row["lead_id"], "created_at": row["created_at"].isoformat(), "job_title": row["job_title"],
            "Segment": row["Segment"], "fit.index": float(row["fit_index"]), "Site visits (30d)": float(row["Site_visits_30d"]),
            "as_of": row["created_at"].isoformat(),
        }
        lead = scorer.request_model.model_validate(req)
        np.testing.assert_allclose(bundle.pipeline.transform_one(lead.__dict__, [], lead.__dict__["as_of"]), X[i], rtol=0, atol=1e-9)
        out = scorer.score(lead)
        assert set(out) >= {"qualification", "acquisition", "score", "grade"}


def test_bad_data_is_refused_naming_the_column(export: Path, tmp_path: Path) -> None:
    from features.source import DataConfig, load_source

    df = crm_export(200)
    df.loc[5, "Site visits (30d)"] = -2
    df.to_csv(tmp_path / "neg.csv", sep=";", index=False)
    cfg = DataConfig.model_validate(byo_config(tmp_path / "neg.csv")["data"])
    with pytest.raises(ContractError, match=r"leads\.Site visits \(30d\): a behaviour count cannot be negative .*row 6"):
        load_source(cfg)
    df = crm_export(200)
    df["fit.index"] = df["fit.index"].astype(object)
    df.loc[3, "fit.index"] = "high"
    df.to_csv(tmp_path / "text.csv", sep=";", index=False)
    cfg = DataConfig.model_validate(byo_config(tmp_path / "text.csv")["data"])
    with pytest.raises(ContractError, match=r"leads\.fit\.index: wrong type: expected a number .*'high'"):
        load_source(cfg)
    cfg = DataConfig.model_validate(byo_config(export, targets={"acquisition": {"flag": "Won?", "positive": "won"}})["data"])
    with pytest.raises(ContractError, match=r"no row has the positive value \['won'\].*values seen: \['n', 'y'\]"):
        load_source(cfg)
    cfg = DataConfig.model_validate(byo_config(export, drop=["Duration"])["data"])
    with pytest.raises(ContractError, match=r"leads\.Duration: named in data\.drop but not in the leads file"):
        load_source(cfg)
    cfg = DataConfig.model_validate(byo_config(tmp_path / "missing.csv")["data"])
    with pytest.raises(ContractError, match="file not found"):
        load_source(cfg)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["data"].update(colour="red"), r"data\.colour: Extra inputs are not permitted"),
        (lambda d: d["data"]["targets"].update(acquisition={"flag": "Won?", "timestamp": "x"}), r"data\.targets\.acquisition.*exactly one of 'flag'"),
        (lambda d: d["data"]["targets"].update(acquisition={"flag": "Won?", "horizon_days": 9}), r"'horizon_days' applies to a 'timestamp' target"),
        (lambda d: d["data"].update(targets={}), r"data\.targets.*at least one target"),
        (lambda d: d["data"]["attributes"].update(numeric=["Segment"]), r"column 'Segment' is in both attributes\.categorical and attributes\.numeric"),
        (lambda d: d["data"].update(rename={"Title": "title"}), r"data\.rename.*data contract lead columns"),
        (lambda d: d.update(targets=["qualification"]), r"targets \['qualification'\] are not in data\.targets"),
        (lambda d: d["split"].update(by="random"), r"split\.by: Input should be 'time' or 'row_order'"),
        (lambda d: d["data"].update(events={"path": "events.csv"}), r"an events table needs created_at_column"),
        (lambda d: d["data"]["leads"].update(separator=";;"), r"data\.leads\.separator"),
        (lambda d: d["lightgbm"].update(num_leaves_candidates=[1, 4]), r"lightgbm\.num_leaves_candidates.*at least 2 leaves"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(export: Path, tmp_path: Path, change: Any, message: str) -> None:
    d = byo_config(export)
    change(d)
    with pytest.raises(ConfigError, match=message):
        config_from(d, tmp_path)


def test_byo_pipeline_state_round_trips(export: Path, tmp_path: Path) -> None:
    from features.pipeline import FeaturePipeline
    from training.train import load_training_data

    config = config_from(byo_config(export), tmp_path)
    data = load_training_data(None, config)
    assert data.source is not None
    pipe = FeaturePipeline(schema=data.source.schema).fit(data.tables.leads)
    again = FeaturePipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    assert again.feature_names_ == pipe.feature_names_ and again.schema_ == pipe.schema_
    snaps = pd.DataFrame({"lead": np.arange(50), "as_of": data.tables.leads["created_at"].to_numpy()[:50]})
    np.testing.assert_array_equal(again.transform(data.tables, snaps), pipe.transform(data.tables, snaps))


def test_train_serve_score_and_pyfunc_end_to_end(export: Path, tmp_path: Path) -> None:
    """``leadscore train --config`` → registry; ``leadscore serve`` (a real bentoml serve),
    ``leadscore score`` and ``mlflow.pyfunc`` give the same probability; the API takes the
    declared attributes and answers for the trained target only."""
    import httpx
    import yaml

    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    d = byo_config(Path(export.name), registered_model="crm-model", experiment="crm")
    d["registered_model"], d["experiment"] = d["data"].pop("registered_model"), d["data"].pop("experiment")
    (tmp_path / "crm.yaml").write_text(yaml.safe_dump(d), encoding="utf-8")
    r = subprocess.run(
        [exe("leadscore"), "train", "--config", str(tmp_path / "crm.yaml"), "--data", str(export.parent)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LEAKAGE GUARD: excluding column 'Contract no'" in r.stderr
    summary = json.loads(r.stdout)
    assert summary["version"] == "1" and list(summary["metrics"]) == ["acquisition"]
    assert summary["validation_warnings"] == {} and "learned almost nothing" not in r.stderr

    # evaluate: the model's own config gives the same split, so the same test AUC.
    r = subprocess.run(
        [exe("leadscore"), "evaluate", "--model", "models:/crm-model/1", "--data", str(export.parent)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    evaluated = json.loads(r.stdout)["metrics"]["acquisition"]
    assert evaluated["roc_auc"] == pytest.approx(summary["metrics"]["acquisition"]["roc_auc"], abs=1e-9)

    rows = crm_export().head(5)
    requests = [
        {"lead_id": row["Lead Number"], "Title": row["Title"], "job_title": row["Title"], "Segment": row["Segment"],
         "fit.index": float(row["fit.index"]), "Site visits (30d)": float(row["Site visits (30d)"])}
        for _, row in rows.iterrows()
    ]
    r = subprocess.run(
        [exe("leadscore"), "score", "--model", "models:/crm-model/1", "--data", str(export), "--out", str(tmp_path / "s.csv")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    batch = pd.read_csv(tmp_path / "s.csv").set_index("lead_id")
    assert "qualification_probability" not in batch.columns
    assert set(batch["model_name"]) == {"crm-model"} and set(batch["model_version"].astype(str)) == {"1"}

    # The funnel report reads the data the model's config's way and breaks it down by the
    # declared categorical attributes.
    r = subprocess.run(
        [exe("leadscore"), "report", "--data", str(export.parent), "--model", "models:/crm-model/1", "--out", str(tmp_path / "rep")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    full = crm_export()
    won = full["Won?"] == "Y"
    assert rep["funnel"]["customers"] == int(won.sum()) and "no qualification stage" in rep["funnel"]["note"]
    by_segment = {row["group"]: row for row in rep["conversion"]["Segment"]}
    for seg, rate in won.groupby(full["Segment"]).mean().items():
        assert by_segment[seg]["lead_to_customer"] == pytest.approx(rate)
    assert rep["conversion"]["source_channel"]["available"] is False
    assert rep["data"]["time_order"] == "row order (no timestamps)"
    assert rep["calibration"]["available"] and "acquisition flag" in rep["calibration"]["observed_definition"]
    assert rep["gain"]["customers"]["rows"][1]["model"] > 0.15  # top 10% hold more than 10% of the customers

    code = (
        "import json, sys, mlflow\n"
        "m = mlflow.pyfunc.load_model('models:/crm-model/1')\n"
        "print(json.dumps(m.predict(json.loads(sys.argv[1]))))\n"
    )
    r = subprocess.run([sys_python(), "-c", code, json.dumps(requests)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    pyfunc = json.loads(r.stdout.strip().splitlines()[-1])
    assert pyfunc[0]["model"] == {"name": "crm-model", "version": "1"}

    port = free_port()
    proc = subprocess.Popen(
        [exe("leadscore"), "serve", "--model", "models:/crm-model/1", "--bento-name", "crm-model", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        base = f"http://127.0.0.1:{port}"
        for req, pf in zip(requests, pyfunc, strict=True):
            out = httpx.post(f"{base}/score", json=req, timeout=10).json()
            assert "qualification" not in out and out["model"] == {"name": "crm-model", "version": "1"}
            p = out["acquisition"]["probability"]
            assert p == pytest.approx(pf["acquisition"]["probability"], abs=1e-12)
            assert p == pytest.approx(batch.loc[req["lead_id"], "acquisition_probability"], abs=1e-9)
        bad = httpx.post(f"{base}/score", json={**requests[0], "fit.index": "high"}, timeout=10)
        assert bad.status_code in (400, 422) and "fit.index" in bad.text
        doc = httpx.get(f"{base}/docs.json", timeout=10).json()
        schemas = json.dumps(doc["components"]["schemas"])
        assert "Site visits (30d)" in schemas and "email" not in schemas
        info = httpx.get(f"{base}/model", timeout=10).json()
        assert info["targets"] == ["acquisition"] and "Segment" in [f["name"] for f in info["features"]]
    finally:
        stop(proc)


def sys_python() -> str:
    import sys

    return sys.executable


def test_export_with_events_and_renamed_contract_columns(tmp_path: Path) -> None:
    """A CRM export whose contract columns have other names, with an events table and
    identity links: the engagement features are built, and the online path agrees."""
    from features.generate import generate
    from serving.scorer import Scorer
    from training.train import load_training_data, train_bundle

    tables, _ = generate(800, seed=4)
    leads = tables.leads.merge(tables.outcomes, on="lead_id", how="left")
    leads = leads.rename(columns={"lead_id": "Id", "created_at": "Created", "email": "E-mail", "job_title": "Job", "qualified_at": "SQL at"})
    leads.to_csv(tmp_path / "leads.csv", index=False)
    tables.events.to_csv(tmp_path / "events.csv", index=False)
    tables.identities.to_csv(tmp_path / "links.csv", index=False)
    d = {
        "data": {
            "leads": {"path": "leads.csv"}, "events": {"path": "events.csv"}, "identities": {"path": "links.csv"},
            "id_column": "Id", "created_at_column": "Created", "rename": {"E-mail": "email", "Job": "job_title"},
            "targets": {"qualification": {"timestamp": "SQL at", "horizon_days": 30}},
        },
        "lightgbm": {"max_rounds": 60, "min_data_in_leaf": 50},
    }
    config = config_from(d, tmp_path)
    data = load_training_data(tmp_path, config)
    assert data.source is not None and len(data.tables.events) == len(tables.events)
    result = train_bundle(data.tables, config, source=data.source)
    names = result.bundle.pipeline.feature_names_
    assert "n_demo_request_30d" in names and "email_domain_type" in names and "industry" in names
    assert list(result.bundle.targets) == ["qualification"]
    scorer = Scorer(result.bundle)
    assert {"events", "email", "job_title", "created_at", "as_of"} <= set(scorer.request_model.model_fields)
    out = scorer.score(scorer.example())
    assert set(out) >= {"qualification", "score"} and "acquisition" not in out


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep=";", index=False)
    return path


def test_odd_exports_are_refused_naming_the_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """What real CRM exports hold, found by probing the loader: each case either loads as
    it should or is one clear error naming the user's column, never a traceback or a
    silent misreading."""
    from features.source import DataConfig, load_source

    def load(df: pd.DataFrame, **extra: Any) -> Any:
        return load_source(DataConfig.model_validate(byo_config(_write(df, tmp_path / "x.csv"), **extra)["data"]))

    base = crm_export(300)
    # A flag with a third value ("Open" deals): not silently negatives.
    df = base.assign(**{"Won?": np.where(np.arange(300) % 3 == 0, "Open", base["Won?"])})
    with pytest.raises(ContractError, match=r"leads\.Won\?: besides the positive value \['y'\].*'n' \(\d+ rows\), 'open' \(100 rows\).*data\.targets\.acquisition\.negative"):
        load(df)
    src = load(df, targets={"acquisition": {"flag": "Won?", "positive": "Y", "negative": ["N"]}})
    flag = src.flags["acquisition"]
    assert np.isnan(flag[::3]).all() and not np.isnan(np.delete(flag, np.s_[::3])).any()  # open: unlabelled
    # Every row positive.
    with pytest.raises(ContractError, match=r"leads\.Won\?: every labelled row has the positive value"):
        load(base.assign(**{"Won?": "Y"}))
    # The user's column names in contract errors.
    with pytest.raises(ContractError, match=r"leads\.Lead Number \(as lead_id\): .*duplicate"):
        load(base.assign(**{"Lead Number": ["crm-1"] * 2 + list(base["Lead Number"][2:])}))
    # Names that clash once trimmed; a declared column that is empty; an id as a category.
    with pytest.raises(ContractError, match=r"leads\.Segment: 2 columns have this name"):
        load(base.assign(**{"Segment ": base["Segment"]}))
    (tmp_path / "x.csv").write_text("Lead Number;Segment;Segment;Won?\ncrm-1;smb;mid market;Y\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"^leads\.Segment: 2 columns have this name"):  # pandas would say Segment.1
        load_source(DataConfig.model_validate(byo_config(tmp_path / "x.csv")["data"]))
    # Blank header cells (stray spreadsheet columns) are pandas' "Unnamed: N", not a clash.
    raw = _write(base, tmp_path / "x.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "x.csv").write_text("\n".join(f"{line};;" for line in raw) + "\n", encoding="utf-8")
    assert len(load_source(DataConfig.model_validate(byo_config(tmp_path / "x.csv")["data"])).tables.leads) == 300
    with pytest.raises(ContractError, match=r"leads\.fit\.index: declared in data\.attributes\.numeric but empty in every row"):
        load(base.assign(**{"fit.index": np.nan}))
    d = byo_config(_write(base, tmp_path / "x.csv"))
    d["data"]["attributes"]["categorical"] = ["Segment", "Lead Number"]
    d["data"]["id_column"] = None
    with caplog.at_level(logging.WARNING):
        load_source(DataConfig.model_validate(d["data"]))
    assert "leads.Lead Number: declared categorical, but 300 of its 300 values are distinct" in caplog.text
    # A declared column named like a built-in feature (the title also makes "seniority").
    src = load(base.assign(seniority=base["Segment"]), attributes={
        "categorical": ["Segment", "seniority"], "numeric": ["fit.index"], "title": "Title", "behaviour": ["Site visits (30d)"]})
    assert "attr_seniority" in src.schema.categorical and src.columns["attr_seniority"] == "seniority"
    # The default yes/no spellings mixed, and blank cells (unlabelled), load as before.
    mixed = base.assign(**{"Won?": np.where(base["Won?"] == "Y", "yes", np.resize(["0", "false", "No", " "], 300))})
    flag = load(mixed, targets={"acquisition": {"flag": "Won?"}}).flags["acquisition"]
    assert np.nansum(flag) == (base["Won?"] == "Y").sum() and np.isnan(flag).sum() == ((base["Won?"] != "Y") & (np.arange(300) % 4 == 3)).sum()
    # A column named like a built-in feature that is not in use keeps its name; keep works on it.
    src = load(base.assign(region=base["Segment"]), keep=["region"], attributes={"categorical": ["Segment", "region"]})
    assert "region" in src.schema.categorical and src.kept == {"region"}
    with caplog.at_level(logging.WARNING):
        load(base, keep=["Title"])
    assert "data.keep lists 'Title', which is not a declared categorical, numeric or behaviour column" in caplog.text
    # A timestamp target before creation names the user's columns, in the leads file.
    timed = base.assign(Created="2024-03-01 10:00", Closed=np.where(np.arange(300) == 7, "2024-02-01 10:00", ""))
    with pytest.raises(ContractError, match=r"^leads\.Closed \(as acquired_at\): .*row 8"):
        load(timed, created_at_column="Created", targets={"acquisition": {"timestamp": "Closed", "horizon_days": 30}})
    # A rename onto a column the file has too.
    with pytest.raises(ContractError, match=r"leads\.Segment: renamed to 'industry', but the file also has a column 'industry'"):
        load(base.assign(industry="Software"), rename={"Segment": "industry"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["data"].update(drop=["Lead Number"]), r"column 'Lead Number' is in both id_column and drop"),
        (lambda d: d["data"].update(rename={"Segment": "industry", "Title": "industry"}), r"rename maps both 'Segment' and 'Title' to 'industry'"),
        (lambda d: d["data"]["targets"]["acquisition"].update(positive=True), r"YAML read this as true; quote the value .*positive: \"yes\""),
        (lambda d: d["data"]["targets"]["acquisition"].update(negative=["y"]), r"both positive and negative: \['y'\]"),
    ],
)
def test_more_bad_configs_are_rejected_naming_the_key(export: Path, tmp_path: Path, change: Any, message: str) -> None:
    d = byo_config(export)
    change(d)
    with pytest.raises(ConfigError, match=message):
        config_from(d, tmp_path)


def test_a_numeric_positive_value_is_read_as_text(tmp_path: Path) -> None:
    from features.source import DataConfig, load_source

    df = crm_export(300)
    df["Won?"] = np.where(df["Won?"] == "Y", 1, 0)
    d = byo_config(_write(df, tmp_path / "x.csv"), targets={"acquisition": {"flag": "Won?", "positive": 1}})
    src = load_source(DataConfig.model_validate(d["data"]))
    assert src.flags["acquisition"].sum() == (df["Won?"] == 1).sum()


def test_too_little_data_and_a_newest_first_file_are_refused(tmp_path: Path) -> None:
    from features.contract import UserError
    from training.train import load_training_data, train_bundle

    d = byo_config(_write(crm_export(80), tmp_path / "tiny.csv"))
    config = config_from(d, tmp_path)
    data = load_training_data(None, config)
    with pytest.raises(UserError, match=r"training period has \d+ labelled snapshots, fewer than twice lightgbm\.min_data_in_leaf \(50\)"):
        train_bundle(data.tables, config, source=data.source)
    # Row order as the split, but created_at says the last rows are the oldest leads.
    df = crm_export(2000)
    df["Created"] = pd.date_range("2024-01-01", periods=2000, freq="h")[::-1].strftime("%Y-%m-%d %H:%M")
    d = byo_config(_write(df, tmp_path / "newest-first.csv"), created_at_column="Created")
    config = config_from(d, tmp_path)
    data = load_training_data(None, config)
    with pytest.raises(UserError, match=r"split\.by is row_order.*'Created' \(data\.created_at_column\) runs newest first \(rank correlation with the row number -1\.00\): use split\.by: time"):
        train_bundle(data.tables, config, source=data.source)


def test_the_leakage_guard_says_which_columns_it_could_not_judge(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from training.train import load_training_data, train_bundle

    df = crm_export()
    df["Referral code"] = np.where(np.arange(N) < 10, "R1", None)  # filled in on 10 rows only
    d = byo_config(_write(df.drop(columns=["Contract no", "Days to close"]), tmp_path / "sparse.csv"))
    d["data"]["attributes"] = {"categorical": ["Segment", "Referral code"], "numeric": ["fit.index"], "behaviour": ["Site visits (30d)"]}
    config = config_from(d, tmp_path)
    data = load_training_data(None, config)
    with caplog.at_level(logging.WARNING):
        train_bundle(data.tables, config, source=data.source)
    assert "column 'Referral_code' has values in only 10 training rows of acquisition (fewer than leakage.min_rows, 20)" in caplog.text
    assert "'Segment' has values in only" not in caplog.text
