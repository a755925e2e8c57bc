"""The training job: snapshots → features → two calibrated LightGBM models → bundle → MLflow.

One explicit run: seed everything, ``with mlflow.start_run()``, log params, metrics,
dataset, plots and the bundle, register it, give it the ``challenger`` alias and pass it
through the promotion gate. A run that fails or is interrupted ends FAILED and moves no
alias (the aliases move only after everything else has succeeded).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.contract import Tables, UserError, load_tables
from features.identity import resolve_identities
from features.pipeline import FeaturePipeline
from features.snapshots import build_snapshots, observed_until
from features.source import FLAG_COLUMN_OF, Source, load_source
from training.baselines import fit_baselines
from training.bundle import ModelBundle, TargetModel
from training.calibration import Calibrator
from training.config import LABEL_OF, TrainConfig
from training.leakage import leakage_guard
from training.metrics import auc_difference_se, evaluate_scores
from training.shift import validation_warning

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    valid_start: pd.Timestamp
    test_start: pd.Timestamp


@dataclass
class FitReport:
    """What the validation period said of a target's early-stopped booster (before any refit)."""

    validation_auc: float
    early_stopped_rounds: int
    warning: str | None  # :func:`training.shift.validation_warning`: it did not hold there

    def metrics(self) -> dict[str, float]:
        return {"validation_auc": self.validation_auc, "early_stopped_rounds": float(self.early_stopped_rounds)}


@dataclass
class TrainResult:
    bundle: ModelBundle
    metrics: dict[str, dict[str, float]]
    baseline_metrics: dict[str, dict[str, dict[str, float]]]
    oracle_auc: dict[str, float]
    snapshots: pd.DataFrame
    X: np.ndarray
    splits: dict[str, Split]
    info: dict[str, Any] = field(default_factory=dict)


def time_split(
    as_of: pd.Series, valid_fraction: float, test_fraction: float, key: np.ndarray | None = None
) -> Split:
    """Train on the past, validate on the next period, test on the most recent one.

    The order is ``as_of`` unless ``key`` (for example the leads file's row order) is given.
    """
    t = as_of.to_numpy().astype("datetime64[us]")
    k = t.astype("int64") if key is None else np.asarray(key, dtype="int64")
    if len(k) == 0:
        raise UserError("no labelled snapshots to split")
    test_key = np.quantile(k, 1 - test_fraction, method="lower")
    valid_key = np.quantile(k, 1 - test_fraction - valid_fraction, method="lower")
    train = k < valid_key
    valid = (k >= valid_key) & (k < test_key)
    test = k >= test_key
    first = {name: pd.Timestamp(t[m].min()) if m.any() else pd.NaT for name, m in (("valid", valid), ("test", test))}
    return Split(train, valid, test, first["valid"], first["test"])


def order_key(snaps: pd.DataFrame, config: TrainConfig) -> np.ndarray | None:
    """The split order of snapshots: None for time, else (lead row, offset) for row order."""
    if config.split.by == "time":
        return None
    offsets = snaps["offset_days"].to_numpy()
    levels = np.unique(offsets)
    return snaps["lead"].to_numpy().astype("int64") * len(levels) + np.searchsorted(levels, offsets)


def check_row_order(tables: Tables, config: TrainConfig) -> None:
    """Refuse ``split.by: row_order`` when the file's creation times run newest first.

    The row order would then test on the oldest leads. "Newest first": the rank correlation
    of row number and ``created_at`` below -0.5 (a file in no particular order is let be).
    """
    if config.split.by != "row_order" or config.data is None or config.data.created_at_column is None:
        return
    created = pd.Series(tables.leads["created_at"].to_numpy()).rank().to_numpy()
    if len(created) < 3 or np.ptp(created) == 0:
        return
    rho = float(np.corrcoef(np.arange(len(created)), created)[0, 1])
    if rho < -0.5:
        raise UserError(
            f"split.by is row_order, so the test period is the last rows of the file, but "
            f"{config.data.created_at_column!r} (data.created_at_column) runs newest first (rank correlation "
            f"with the row number {rho:.2f}): use split.by: time, or sort the file oldest first"
        )


def target_splits(snaps: pd.DataFrame, config: TrainConfig) -> dict[str, Split]:
    """A time split per target, over that target's labelled (uncensored) snapshots.

    Labels with long horizons are censored near the export time, so the most recent
    period differs per target: for each, it is the most recent ``test_fraction`` of the
    snapshots whose label is known.
    """
    out: dict[str, Split] = {}
    key = order_key(snaps, config)
    for name in config.targets:
        known = snaps[LABEL_OF[name]].notna().to_numpy()
        if known.sum() == 0:
            raise UserError(f"target {name}: no snapshot has a known label (every outcome window is censored)")
        sp = time_split(
            snaps.loc[known, "as_of"], config.split.validation_fraction, config.split.test_fraction,
            None if key is None else key[known],
        )
        full = {}
        for part in ("train", "valid", "test"):
            m = np.zeros(len(snaps), dtype=bool)
            m[np.flatnonzero(known)[getattr(sp, part)]] = True
            full[part] = m
        out[name] = Split(full["train"], full["valid"], full["test"], sp.valid_start, sp.test_start)
    return out


@dataclass
class TrainingData:
    """What a training run reads: contract tables, and for bring-your-own data its source."""

    tables: Tables
    source: Source | None = None
    oracle: pd.DataFrame | None = None


def load_training_data(data_dir: str | Path | None, config: TrainConfig) -> TrainingData:
    """The data contract's directory, or the files a ``data:`` config section describes."""
    if config.data is not None:
        source = load_source(config.data, data_dir)
        return TrainingData(source.tables, source)
    if data_dir is None:
        raise UserError("no data: give --data DIR (data contract tables) or a config with a data section")
    return TrainingData(load_tables(data_dir), None, load_oracle(Path(data_dir)))


def make_snapshots(tables: Tables, config: TrainConfig, source: Source | None = None) -> pd.DataFrame:
    """Point-in-time snapshots with a label column per target of the config.

    Contract data: timestamp outcomes and horizons. Bring-your-own data: timestamp targets
    the same way; a flag target labels the snapshot at creation only (a flag says whether
    the lead ever got there, not when).
    """
    if source is None:
        horizons = {
            "qualified": config.snapshots.qualification_horizon_days,
            "acquired": config.snapshots.acquisition_horizon_days,
        }
        return build_snapshots(tables, config.snapshots.offsets_days, horizons)
    horizons = {FLAG_COLUMN_OF[t]: h for t, h in source.horizons.items() if t in config.targets}
    offsets = config.snapshots.offsets_days if horizons else (0.0,)
    snaps = build_snapshots(tables, offsets, horizons)
    at_creation = (snaps["offset_days"] == 0).to_numpy()
    for target, flag in source.flags.items():
        if target in config.targets:
            y = flag[snaps["lead"].to_numpy()]
            snaps[LABEL_OF[target]] = np.where(at_creation, y, np.nan)
    return snaps


def load_oracle(data_dir: Path) -> pd.DataFrame | None:
    path = Path(data_dir) / "oracle.parquet"
    return pd.read_parquet(path) if path.exists() else None


def oracle_for(oracle: pd.DataFrame, snapshots: pd.DataFrame, config: TrainConfig) -> dict[str, np.ndarray]:
    from features.generate import oracle_probabilities

    p_q, p_a = oracle_probabilities(
        oracle,
        snapshots["lead_id"].to_numpy(),
        snapshots["as_of"].to_numpy(),
        config.snapshots.qualification_horizon_days,
        config.snapshots.acquisition_horizon_days,
    )
    return {"qualification": p_q, "acquisition": p_a}


def lgb_params(config: TrainConfig) -> dict[str, Any]:
    c = config.lightgbm
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": c.learning_rate,
        "num_leaves": c.num_leaves,
        "min_data_in_leaf": c.min_data_in_leaf,
        "feature_fraction": c.feature_fraction,
        "bagging_fraction": c.bagging_fraction,
        "bagging_freq": c.bagging_freq,
        "lambda_l2": c.lambda_l2,
        "cat_smooth": c.cat_smooth,
        "cat_l2": c.cat_l2,
        "path_smooth": c.path_smooth,
        "min_data_per_group": c.min_data_per_group,
        "max_cat_threshold": c.max_cat_threshold,
        "num_threads": c.num_threads,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit_target(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    split: Split,
    pipeline: FeaturePipeline,
    config: TrainConfig,
    progress: Progress = lambda _msg: None,
    groups: np.ndarray | None = None,
) -> tuple[TargetModel, FitReport]:
    """Train one booster with early stopping on validation, then calibrate on validation.

    Returns the model and what validation said of it (:class:`FitReport`). ``groups``: the
    lead of each row of ``X`` (default: each row its own), for the validation warning.
    """
    known = ~np.isnan(y)
    tr, va = split.train & known, split.valid & known
    if config.max_train_rows is not None and tr.sum() > config.max_train_rows:
        idx = np.flatnonzero(tr)
        keep = np.random.default_rng(config.seed).choice(idx, config.max_train_rows, replace=False)
        tr = np.zeros_like(tr)
        tr[keep] = True
    min_leaf = config.lightgbm.min_data_in_leaf
    if tr.sum() < 2 * min_leaf:
        raise UserError(
            f"target {name}: the training period has {int(tr.sum())} labelled snapshots, fewer than twice "
            f"lightgbm.min_data_in_leaf ({min_leaf}), so no tree could split them; lower lightgbm.min_data_in_leaf "
            "or give more data"
        )
    for part, mask in (("training", tr), ("validation", va)):
        if mask.sum() == 0 or len(np.unique(y[mask])) < 2:
            raise UserError(
                f"target {name}: the {part} period has {int(mask.sum())} labelled snapshots and "
                f"{int(np.nansum(y[mask]))} positives; need both classes (more data or other split fractions)"
            )
    names = pipeline.feature_names_
    cats = pipeline.categorical_indices_
    dtrain = lgb.Dataset(X[tr], y[tr], feature_name=names, categorical_feature=cats, free_raw_data=True)
    dvalid = lgb.Dataset(X[va], y[va], reference=dtrain, feature_name=names, categorical_feature=cats)
    params = lgb_params(config)
    if config.lightgbm.monotone_engagement:
        params["monotone_constraints"] = [f.direction for f in pipeline.features_]
        params["monotone_constraints_method"] = "intermediate"

    def early_stopped(leaves: int) -> lgb.Booster:
        return lgb.train(
            {**params, "num_leaves": leaves},
            dtrain,
            num_boost_round=config.lightgbm.max_rounds,
            valid_sets=[dvalid],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(config.lightgbm.early_stopping_rounds, verbose=False)],
        )

    leaves = config.lightgbm.num_leaves
    booster = early_stopped(leaves)
    candidates = sorted(set(config.lightgbm.num_leaves_candidates) - {leaves})
    if candidates:
        # The tree size by the criterion early stopping already uses: validation log loss
        # (ties keep the configured size, which is tried first).
        best = booster.best_score["validation"]["binary_logloss"]
        progress(f"  {name}: {leaves} leaves, validation log loss {best:.4f}")
        for n in candidates:
            other = early_stopped(n)
            loss = other.best_score["validation"]["binary_logloss"]
            progress(f"  {name}: {n} leaves, validation log loss {loss:.4f}")
            if loss < best:
                best, booster, leaves = loss, other, n
        progress(f"  {name}: keeping {leaves} leaves")
        params["num_leaves"] = leaves
    # Keep only the trees early stopping chose, so every consumer predicts the same thing.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    raw_valid = np.asarray(booster.predict(X[va]))
    valid_auc, rounds = float(roc_auc_score(y[va], raw_valid)), booster.current_iteration()
    c = config.lightgbm
    warning = validation_warning(
        name, valid_auc, rounds, c.max_rounds, c.learning_rate, X, y,
        np.arange(len(y)) if groups is None else groups, tr, va,
        [f.label for f in pipeline.features_], set(cats), config.features.min_category_count,
    )
    report = FitReport(valid_auc, rounds, warning)
    calibrator = Calibrator(method=config.calibration, random_state=config.seed).fit(raw_valid, y[va])
    if config.lightgbm.refit_on_validation:
        # The same rounds on training + validation; the calibrator fitted on the held-out
        # validation scores of the first booster carries over (the boosters are alike).
        both = tr | va
        dboth = lgb.Dataset(X[both], y[both], feature_name=names, categorical_feature=cats, free_raw_data=True)
        rounds = int(round(booster.current_iteration() * both.sum() / max(tr.sum(), 1)))
        refit = lgb.train(params, dboth, num_boost_round=max(1, rounds))
        booster = lgb.Booster(model_str=refit.model_to_string())
    return TargetModel(name, booster, calibrator), report


def train_bundle(
    tables: Tables,
    config: TrainConfig,
    oracle: pd.DataFrame | None = None,
    progress: Progress = lambda _: None,
    on_features: Callable[[int], None] | None = None,
    source: Source | None = None,
) -> TrainResult:
    """Everything but MLflow: the model bundle and its evaluation on the test period."""
    t0 = time.perf_counter()
    progress("building snapshots")
    snaps = make_snapshots(tables, config, source)
    if len(snaps) == 0:
        raise UserError("no snapshots: every lead is closed or created after the export time")
    check_row_order(tables, config)
    splits = target_splits(snaps, config)
    progress(f"{len(snaps):,} snapshots of {snaps['lead'].nunique():,} leads")
    for name, sp in splits.items():
        if config.split.by == "row_order":
            rows = snaps["lead"].to_numpy() + 1
            where = f"validation from row {rows[sp.valid].min():,}, test from row {rows[sp.test].min():,}"
        else:
            where = f"validation from {sp.valid_start:%Y-%m-%d}, test from {sp.test_start:%Y-%m-%d}"
        progress(
            f"  {name}: {sp.train.sum():,} train / {sp.valid.sum():,} validation / {sp.test.sum():,} test "
            f"labelled snapshots ({where})"
        )
    split = splits[config.targets[0]]
    fc = config.features
    train_any = np.logical_or.reduce([sp.train for sp in splits.values()])
    train_leads = np.unique(snaps.loc[train_any, "lead"].to_numpy())
    schema = source.schema if source is not None else None
    excluded: dict[str, str] = {}
    if source is not None and schema is not None and config.leakage.enabled:
        excluded = leakage_guard(tables.leads, snaps, splits, schema, config, keep=source.kept)
        for col, why in excluded.items():
            progress(f"LEAKAGE GUARD: excluding column {source.columns.get(col, col)!r} ({why}); keep it with data.keep")
        schema = schema.without(set(excluded))
    pipeline = FeaturePipeline(
        windows=fc.windows_days,
        half_lives=fc.half_lives_days,
        min_category_count=fc.min_category_count,
        max_categories=fc.max_categories,
        max_people_per_identifier=fc.max_people_per_identifier,
        schema=schema,
    )
    pipeline.fit(tables.leads.iloc[train_leads])
    identity = None
    id_report: dict[str, Any] = {}
    if pipeline.schema_.events:
        progress("resolving identities")
        identity = resolve_identities(tables, fc.max_people_per_identifier)
        id_report = identity.report(tables.events)
        progress(
            f"identity: {id_report['events_attributed_share']:.1%} of events attributed, "
            f"{id_report['people']:,} people, {id_report['shared_identifiers']} shared identifiers"
        )
    progress(f"computing {len(pipeline.feature_names_)} features")
    t_feat = time.perf_counter()
    X = pipeline.transform(tables, snaps, identity=identity, progress=on_features)
    feature_seconds = time.perf_counter() - t_feat

    targets: dict[str, TargetModel] = {}
    metrics: dict[str, dict[str, float]] = {}
    baseline_metrics: dict[str, dict[str, dict[str, float]]] = {}
    oracle_auc: dict[str, float] = {}
    oracle_gap_se: dict[str, float] = {}
    test_scores: dict[str, dict[str, np.ndarray]] = {}
    warnings: dict[str, str] = {}  # per target: the model did not hold on validation
    oracle_p = oracle_for(oracle, snaps, config) if oracle is not None else None
    frame = pipeline.to_frame(X)
    for name in config.targets:
        y = snaps[LABEL_OF[name]].to_numpy()
        progress(f"training {name} model")
        split = splits[name]
        tm, fit_report = fit_target(name, X, y, split, pipeline, config, progress, groups=snaps["lead"].to_numpy())
        targets[name] = tm
        if fit_report.warning is not None:
            progress(f"WARNING {fit_report.warning}")
            warnings[name] = fit_report.warning
        te = split.test & ~np.isnan(y)
        p_test = tm.predict(X[te])
        metrics[name] = evaluate_scores(y[te], p_test) | fit_report.metrics()
        metrics[name]["best_iteration"] = float(tm.booster.current_iteration())
        metrics[name]["num_leaves"] = float(tm.booster.params.get("num_leaves", config.lightgbm.num_leaves))
        progress(f"evaluating {name}: AUC {metrics[name]['roc_auc']:.4f}, ECE {metrics[name]['ece']:.4f}")
        tr = (split.train | (split.valid if config.lightgbm.refit_on_validation else False)) & ~np.isnan(y)
        sample = _subsample(np.flatnonzero(tr), 200_000, config.seed)
        baselines = fit_baselines(frame.iloc[sample].reset_index(drop=True), y[sample])
        for b in [b for b, m in baselines.items() if getattr(m, "rules_used_", None) == []]:
            del baselines[b]  # a scorecard with none of its columns in this data ranks nothing
        if not baselines:
            progress("  (no baseline applies)")
        test_frame = frame[te].reset_index(drop=True)
        scores = {"leadscore": p_test} | {b: m.predict_proba(test_frame) for b, m in baselines.items()}
        test_scores[name] = scores
        baseline_metrics[name] = {b: evaluate_scores(y[te], scores[b]) for b in baselines}
        if oracle_p is not None:
            oracle_auc[name] = evaluate_scores(y[te], oracle_p[name][te])["roc_auc"]
            # How much of the gap is the test period's sample of leads: the gap's bootstrap
            # standard error, resampling whole leads.
            oracle_gap_se[name] = auc_difference_se(
                y[te], oracle_p[name][te], p_test, snaps["lead"].to_numpy()[te], seed=config.seed
            )
            progress(
                f"  {name}: oracle AUC {oracle_auc[name]:.4f}, gap "
                f"{oracle_auc[name] - metrics[name]['roc_auc']:.4f} ± {oracle_gap_se[name]:.4f}"
            )

    primary = "qualification" if "qualification" in targets else next(iter(targets))
    p_valid = targets[primary].predict(X[splits[primary].valid])
    quantiles = np.quantile(p_valid, np.linspace(0, 1, 101)).tolist()
    g = config.grades
    bundle = ModelBundle(
        pipeline=pipeline,
        targets=targets,
        score_quantiles=[float(q) for q in quantiles],
        grade_min_scores={"A": g.a_min_score, "B": g.b_min_score, "C": g.c_min_score},
        metadata={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metrics": metrics,
            "test_start": split.test_start.isoformat(),
            "observed_until": observed_until(tables).isoformat(),
            "config": config.model_dump(mode="json"),
            "leakage_excluded": excluded,
            "validation_warnings": warnings,
        },
    )
    info = {
        "seconds_total": time.perf_counter() - t0,
        "seconds_features": feature_seconds,
        "identity": id_report,
        "leakage_excluded": excluded,
        "test_scores": test_scores,
        "oracle_gap_se": oracle_gap_se,
        "validation_warnings": warnings,
    }
    return TrainResult(bundle, metrics, baseline_metrics, oracle_auc, snaps, X, splits, info)


def _subsample(idx: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(idx) <= n:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def evaluate_bundle(
    bundle: ModelBundle, tables: Tables, snaps: pd.DataFrame, masks: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Metrics of any bundle on chosen snapshots per target, with its own feature pipeline."""
    union = np.zeros(len(snaps), dtype=bool)
    for m in masks.values():
        union |= m
    rows = snaps[union].reset_index(drop=True)
    X = bundle.pipeline.transform(tables, rows)
    out = {}
    for name, tm in bundle.targets.items():
        if name not in masks:
            continue
        y = rows[LABEL_OF[name]].to_numpy()
        sel = masks[name][union] & ~np.isnan(y)
        out[name] = evaluate_scores(y[sel], tm.predict(X[sel]))
    return out


def run(
    data_dir: str | Path | None,
    config: TrainConfig,
    progress: Progress = lambda _: None,
    on_features: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The whole job, tracked in MLflow. Returns a summary (run id, version, decision)."""
    import mlflow

    from training import registry, tracking

    data = load_training_data(data_dir, config)
    tables = data.tables
    data_dir = Path(data_dir) if data_dir is not None else Path(".")
    tracking.configure(config.experiment)
    with mlflow.start_run(run_name=f"train-{datetime.now(UTC):%Y%m%d-%H%M%S}") as active:
        mlflow.set_tags({"leadscore.role": "model", "leadscore.data_dir": str(data_dir)})
        mlflow.log_params(config.flat_params())
        result = train_bundle(tables, config, data.oracle, progress, on_features, source=data.source)
        for name, warning in result.info["validation_warnings"].items():
            mlflow.set_tag(f"leadscore.{name}.validation_warning", warning)
        if result.info["leakage_excluded"]:
            mlflow.set_tag("leadscore.leakage_excluded", json.dumps(result.info["leakage_excluded"]))
        progress("logging to MLflow")
        tracking.log_training(result, tables, data_dir, config)
        expected = registry.next_version(config.registered_model)
        result.bundle.version = expected
        result.bundle.name = config.registered_model
        result.bundle.metadata.update(version=expected, run_id=active.info.run_id, registered_model=config.registered_model)
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = result.bundle.save(Path(tmp) / "bundle")
            model_info = tracking.log_bundle(bundle_dir, config.registered_model, result.bundle.pipeline)
        version = str(model_info.registered_model_version)
        if version != expected:
            raise RuntimeError(f"registry gave version {version}, expected {expected}: concurrent registration?")
        progress(f"registered {config.registered_model} version {version}")
        decision = registry.gate_and_alias(
            config, version, result, tables, progress=progress
        )
        mlflow.set_tags({"leadscore.model_version": version, "leadscore.gate": decision["decision"]})
        return {
            "run_id": active.info.run_id,
            "model_uri": f"models:/{config.registered_model}/{version}",
            "version": version,
            "metrics": result.metrics,
            "baselines": {t: {b: m["roc_auc"] for b, m in bm.items()} for t, bm in result.baseline_metrics.items()},
            "oracle_auc": result.oracle_auc,
            "oracle_gap_se": result.info["oracle_gap_se"],
            "gate": decision,
            "validation_warnings": result.info["validation_warnings"],
            "seconds": result.info["seconds_total"],
        }
