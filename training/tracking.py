"""MLflow logging of a training run: params, metrics, dataset, plots, the bundle."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from features.contract import Tables
from training.config import LABEL_OF, TrainConfig

log = logging.getLogger(__name__)
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MODEL_CODE = Path(__file__).resolve().parent.parent / "serving" / "mlflow_model.py"
MODEL_CODE_BYO = MODEL_CODE.with_name("mlflow_model_byo.py")


def configure(experiment: str) -> str:
    """Use ``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite default; pick the experiment."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or uri)
    mlflow.set_experiment(experiment)
    return uri


def unreachable(error: BaseException) -> str | None:
    """A clear message if ``error`` (or its cause) is the tracking server not answering."""
    seen: BaseException | None = error
    while seen is not None:
        text = str(seen)
        if text.startswith("API request to") or type(seen).__name__ in ("ConnectionError", "MaxRetryError", "NewConnectionError"):
            uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
            return f"the MLflow tracking server at {uri} is unreachable ({type(seen).__name__}); nothing was promoted: {text[:300]}"
        seen = seen.__cause__ or seen.__context__
    return None


def metric_dict(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def log_training(result: Any, tables: Tables, data_dir: Path, config: TrainConfig) -> None:
    import mlflow
    import mlflow.data

    snaps, splits = result.snapshots, result.splits
    first = splits[config.targets[0]]
    mlflow.log_params(
        {
            "data.leads": len(tables.leads),
            "data.events": len(tables.events),
            "data.identities": len(tables.identities),
            "data.snapshots": len(snaps),
            "data.first_lead": str(tables.leads["created_at"].min()),
            "data.last_lead": str(tables.leads["created_at"].max()),
            "features.count": len(result.bundle.pipeline.feature_names_),
        }
    )
    for name, sp in splits.items():
        mlflow.log_params(
            {
                f"data.{name}.train_snapshots": int(sp.train.sum()),
                f"data.{name}.validation_snapshots": int(sp.valid.sum()),
                f"data.{name}.test_snapshots": int(sp.test.sum()),
                f"data.{name}.validation_start": str(sp.valid_start),
                f"data.{name}.test_start": str(sp.test_start),
            }
        )
    for name, m in result.metrics.items():
        mlflow.log_metrics(metric_dict(name, m))
        mlflow.log_param(f"{name}.calibration", result.bundle.targets[name].calibrator.method_)
        # The tree size kept (lightgbm.num_leaves, or the best of lightgbm.num_leaves_candidates).
        mlflow.log_param(f"{name}.num_leaves", int(m["num_leaves"]))
        base = result.baseline_metrics[name]
        best = max(v["roc_auc"] for v in base.values())
        mlflow.log_metric(f"{name}_best_baseline_roc_auc", best)
        mlflow.log_metric(f"{name}_auc_over_best_baseline", m["roc_auc"] - best)
        if name in result.oracle_auc:
            mlflow.log_metric(f"{name}_oracle_roc_auc", result.oracle_auc[name])
            mlflow.log_metric(f"{name}_oracle_gap", result.oracle_auc[name] - m["roc_auc"])
            se = result.info["oracle_gap_se"][name]
            if np.isfinite(se):
                mlflow.log_metric(f"{name}_oracle_gap_se", se)
    mlflow.log_dict(result.info["identity"], "identity_report.json")
    mlflow.log_dict(result.bundle.pipeline.describe(), "features.json")

    # The training data as an MLflow dataset (schema, digest, source), features and labels.
    frame = result.bundle.pipeline.to_frame(result.X[first.train][:50_000])
    for t in config.targets:
        frame[LABEL_OF[t]] = snaps.loc[first.train, LABEL_OF[t]].to_numpy()[:50_000]
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        frame, source=str(Path(data_dir).resolve()), name="training-snapshots", targets=LABEL_OF[config.targets[0]]
    )
    mlflow.log_input(dataset, context="training")
    log_manifest(snaps, splits, config)

    # Baselines as nested runs with the same metric names: the MLflow UI compares them
    # with the model side by side.
    baselines = sorted({b for bm in result.baseline_metrics.values() for b in bm})
    for b in baselines:
        with mlflow.start_run(run_name=f"baseline-{b}", nested=True):
            mlflow.set_tags({"leadscore.role": "baseline", "leadscore.baseline": b})
            for name in result.baseline_metrics:
                mlflow.log_metrics(metric_dict(name, result.baseline_metrics[name][b]))
    log_plots(result, config)


def log_manifest(snaps: Any, splits: dict[str, Any], config: TrainConfig) -> None:
    """``data/snapshots.parquet``: which lead, as of when, in which period, with which labels.

    Lead ids only as salted hashes (:mod:`features.privacy`): a run can be audited ("was
    this lead in the training period?") without storing who the leads are.
    """
    import tempfile

    import mlflow
    import pandas as pd

    from features.privacy import SALT_ENV, SALT_FILE_ENV, hash_keys

    manifest = pd.DataFrame({"lead_key": hash_keys(snaps["lead_id"]), "as_of": snaps["as_of"].to_numpy()})
    for name, sp in splits.items():
        manifest[f"{name}_period"] = np.select([sp.train, sp.valid, sp.test], ["train", "validation", "test"], "unlabelled")
    for t in config.targets:
        manifest[LABEL_OF[t]] = snaps[LABEL_OF[t]].to_numpy()
    configured = bool(os.environ.get(SALT_ENV) or os.environ.get(SALT_FILE_ENV))
    mlflow.set_tag("leadscore.key_hash", "hmac-sha256, " + ("configured salt" if configured else "random salt of this run"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshots.parquet"
        manifest.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="data")


def log_plots(result: Any, config: TrainConfig) -> None:
    import matplotlib.pyplot as plt
    import mlflow

    from training import plots

    snaps, X = result.snapshots, result.X
    for name, tm in result.bundle.targets.items():
        split = result.splits[name]
        y = snaps[LABEL_OF[name]].to_numpy()
        te = split.test & ~np.isnan(y)
        scores = result.info["test_scores"][name]
        p = scores["leadscore"]
        figs = {
            "roc_pr": plots.roc_pr_figure(y[te], scores, f"{name}: ROC and PR (test period)"),
            "reliability": plots.reliability_figure(y[te], p, f"{name}: reliability (test period)"),
            "gain": plots.gain_figure(y[te], scores, f"{name}: cumulative gain and lift"),
            "importance": plots.importance_figure(
                result.bundle.pipeline.feature_names_,
                tm.booster.feature_importance(importance_type="gain"),
                f"{name}: feature importance (gain)",
            ),
        }
        sample = np.flatnonzero(te)[:2000]
        contrib = np.asarray(tm.booster.predict(X[sample], pred_contrib=True))[:, :-1]
        figs["reasons"] = plots.reasons_figure(
            result.bundle.pipeline.feature_names_,
            np.abs(contrib).mean(axis=0),
            np.where(contrib > 0, contrib, 0).mean(axis=0),
            np.where(contrib < 0, contrib, 0).mean(axis=0),
            f"{name}: summary of reasons (test sample)",
        )
        for kind, fig in figs.items():
            mlflow.log_figure(fig, f"plots/{name}_{kind}.png")
            plt.close(fig)


def log_bundle(bundle_dir: Path, registered_model: str, pipeline: Any = None) -> Any:
    """Log the bundle as a pyfunc model from code, with signature and a synthetic example.

    A data contract bundle is typed by the API's request model (``serving/mlflow_model.py``);
    a bring-your-own-data bundle by its example (``serving/mlflow_model_byo.py``).
    """
    import mlflow

    from serving.schemas import Lead, example_request, example_request_for, request_models

    root = Path(__file__).resolve().parent.parent
    contract = pipeline is None or request_models(pipeline)[0] is Lead
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_CODE if contract else MODEL_CODE_BYO),
        artifacts={"bundle": str(bundle_dir)},
        input_example=[example_request()] if contract else [example_request_for(pipeline)],
        registered_model_name=registered_model,
        code_paths=[str(root / "features"), str(root / "training"), str(root / "serving")],
        pip_requirements=_requirements(),
    )


def _requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ["lightgbm", "numpy", "numba", "pandas", "pyarrow", "scikit-learn", "scipy", "pydantic", "mlflow"]
    return [f"{p}=={version(p)}" for p in pkgs]
