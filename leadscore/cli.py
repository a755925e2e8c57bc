"""The ``leadscore`` command line: the one place that configures logging and progress.

Commands import their heavy dependencies (MLflow, LightGBM, BentoML) lazily, so
``leadscore --help`` and ``leadscore validate`` stay fast.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from features.contract import UserError
from serving.security import DEFAULT_MAX_BATCH, HARD_MAX_BATCH, MAX_BATCH_ENV

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("leadscore")


class UsageFailure(click.ClickException):
    """A failure the user can fix: printed as one clear line, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def clean_errors(func: F) -> F:
    """Turn expected failures (bad data, bad config, missing model) into one clear message."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UserError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
            raise UsageFailure(str(e)) from None
        except Exception as e:
            from training.tracking import unreachable

            if (message := unreachable(e)) is not None:
                raise UsageFailure(message) from None
            mlflow_exc = sys.modules.get("mlflow.exceptions")  # only if MLflow was used
            known = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
            if mlflow_exc is not None and isinstance(e, mlflow_exc.MlflowException) and e.error_code in known:
                raise UsageFailure(e.message) from None
            raise

    return wrapper  # type: ignore[return-value]


class OptionalPath(click.ParamType):
    """A path; an empty string means "not given" (MLflow project parameters cannot be omitted)."""

    name = "path"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path | None:
        if value is None or isinstance(value, Path):
            return value
        return Path(value) if str(value).strip() else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """leadscore: lead-conversion and customer-acquisition scoring with reasons."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "mlflow", "urllib3", "git", "bentoml", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def step(message: str) -> None:
    """Progress line on stderr (stdout stays for results)."""
    click.echo(f"» {message}", err=True)


def _lead_progress(label: str) -> Callable[[int], None]:
    """A callback reporting leads done, about every 10%, on stderr."""
    state = {"done": 0, "last": 0.0}

    def update(n: int, total: int | None = None) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= 2.0:
            state["last"] = now
            click.echo(f"  {label}: {state['done']:,} leads", err=True)

    return update


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Directory with leads/events/identities/outcomes (.csv or .parquet).")
@clean_errors
def validate(data_dir: Path) -> None:
    """Check a data directory against the data contract; print a summary of each table."""
    from features.contract import load_tables

    tables = load_tables(data_dir)
    summary = {name: {"rows": len(df), "columns": list(df.columns)} for name, df in tables.items()}
    click.echo(json.dumps(summary, indent=2))


@main.command()
@click.option("--leads", "n_leads", default=20_000, show_default=True, type=click.IntRange(min=10), help="Number of leads.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed; the same seed gives the same data.")
@click.option("--out", "out_dir", default="data/synthetic", show_default=True, type=click.Path(path_type=Path), help="Output directory.")
@click.option("--start", default="2024-01-01", show_default=True, help="First lead creation date.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(min=30), help="Days over which leads are created.")
@clean_errors
def generate(n_leads: int, seed: int, out_dir: Path, start: str, days: int) -> None:
    """Generate the synthetic B2B funnel (the embedded default data)."""
    from features.generate import generate as run_generate
    from features.generate import write_dataset

    tables, oracle = run_generate(n_leads, seed=seed, start=start, days=days, progress=step)
    paths = write_dataset(tables, oracle, out_dir)
    step(f"wrote {len(tables.leads):,} leads and {len(tables.events):,} events to {out_dir}")
    click.echo(json.dumps({"out": str(out_dir), "files": [p.name for p in paths]}))


def _install_sigterm() -> None:
    """SIGTERM ends the process like Ctrl-C, so an MLflow run is marked FAILED, not left RUNNING."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"received signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@main.command()
@click.option("--data", "data_dir", default=None, type=OptionalPath(), help="Data directory: data contract tables (default data/synthetic), or where a config's data section finds its files.")
@click.option("--config", "config_file", default=None, type=OptionalPath(), help="YAML training config (see training/config.py); a data section brings your own data.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set lightgbm.learning_rate=0.1")
@clean_errors
def train(data_dir: Path, config_file: Path | None, overrides: tuple[str, ...]) -> None:
    """Train both models, evaluate, log to MLflow, register and gate the new version."""
    from training.config import ConfigError, load_config, parse_overrides
    from training.train import run

    try:
        config = load_config(config_file, parse_overrides(overrides))
    except ConfigError as e:
        raise UsageFailure(str(e)) from None
    if data_dir is None and config.data is None:
        data_dir = Path("data/synthetic")
    _install_sigterm()
    summary = run(data_dir, config, progress=step, on_features=_lead_progress("features"))
    click.echo(json.dumps(summary, indent=2, default=str))


@main.command()
@click.option("--model", "model_uri", default="models:/lead-scoring@champion", show_default=True, help="Any MLflow model URI of a leadscore bundle.")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path))
@click.option("--config", "config_file", default=None, type=OptionalPath(), help="Config for snapshots, split and data mapping (default: the one the model was trained with).")
@click.option("--all-snapshots", is_flag=True, help="Evaluate on every snapshot, not only the most recent test period.")
@clean_errors
def evaluate(model_uri: str, data_dir: Path, config_file: Path | None, all_snapshots: bool) -> None:
    """Print and log the metrics of any registered model on any data."""
    import mlflow

    from training import tracking
    from training.config import TrainConfig, load_config
    from training.registry import load_bundle
    from training.train import evaluate_bundle, load_training_data, make_snapshots, target_splits

    tracking.configure("lead-scoring")
    step(f"loading {model_uri}")
    bundle = load_bundle(model_uri)
    stored = bundle.metadata.get("config")
    # Default: the snapshots, split and data mapping the model was trained with.
    config = load_config(config_file)
    if stored and not config_file:
        try:
            config = TrainConfig.model_validate(stored)
        except ValueError as e:
            log.warning("the model's stored config does not validate (%s); using the defaults", str(e).splitlines()[0])
    tracking.configure(config.experiment)
    targets = [t for t in bundle.targets if config.data is None or t in config.data.targets]
    config = config.model_copy(update={"targets": tuple(targets)})
    data = load_training_data(data_dir, config)
    tables = data.tables
    snaps = make_snapshots(tables, config, data.source)
    if all_snapshots:
        masks = {t: np.ones(len(snaps), dtype=bool) for t in targets}
    else:
        masks = {t: sp.test for t, sp in target_splits(snaps, config).items()}
    n_rows = int(np.logical_or.reduce(list(masks.values())).sum())
    step(f"evaluating on {n_rows:,} snapshots")
    metrics = evaluate_bundle(bundle, tables, snaps, masks)
    with mlflow.start_run(run_name=f"evaluate {model_uri}"):
        mlflow.set_tags({"leadscore.role": "evaluation", "leadscore.model_uri": model_uri, "leadscore.data_dir": str(data_dir)})
        for name, m in metrics.items():
            mlflow.log_metrics(tracking.metric_dict(name, m))
    click.echo(json.dumps({"model": model_uri, "snapshots": n_rows, "metrics": metrics}, indent=2))


@main.command()
@click.option("--version", "version", required=True, help="Model version to make champion.")
@click.option("--reason", required=True, help="Why (recorded on the version).")
@click.option("--name", default="lead-scoring", show_default=True)
@clean_errors
def promote(version: str, reason: str, name: str) -> None:
    """Force a version to be the champion (bypasses the gate; the reason is recorded)."""
    from training import registry, tracking

    tracking.configure("lead-scoring")
    registry.client().get_model_version(name, version)  # fails clearly if it does not exist
    registry.set_champion(name, version, f"forced: {reason}")
    click.echo(json.dumps({"champion": version, "reason": reason}))


@main.command()
@click.option("--name", default="lead-scoring", show_default=True)
@clean_errors
def rollback(name: str) -> None:
    """Move the champion alias back to the previous champion."""
    from training import registry, tracking

    tracking.configure("lead-scoring")
    old, new = registry.rollback(name)
    click.echo(json.dumps({"from": old, "champion": new}))


@main.command()
@click.option("--model", "model_uri", default="models:/lead-scoring@champion", show_default=True)
@click.option("--example", is_flag=True, help="Score the built-in synthetic example lead.")
@click.option("--input", "input_file", type=click.Path(exists=True, path_type=Path), help="JSON file: one lead or a list of leads (the API's request format).")
@click.option("--reasons/--no-reasons", default=True, show_default=True)
@clean_errors
def predict(model_uri: str, example: bool, input_file: Path | None, reasons: bool) -> None:
    """Score leads given as JSON with a registered model, in process."""
    from pydantic import TypeAdapter, ValidationError

    from serving.schemas import example_request_for
    from serving.scorer import Scorer
    from training import tracking
    from training.registry import load_bundle

    if example == (input_file is not None):
        raise UsageFailure("give exactly one of --example or --input FILE")
    tracking.configure("lead-scoring")
    scorer = Scorer(load_bundle(model_uri))
    raw = example_request_for(scorer.bundle.pipeline) if example else json.loads(Path(input_file).read_text(encoding="utf-8"))  # type: ignore[arg-type]
    many = isinstance(raw, list)
    try:
        leads = TypeAdapter(list[scorer.request_model]).validate_python(raw if many else [raw])  # type: ignore[name-defined]
    except ValidationError as e:
        raise UsageFailure(str(e)) from None
    out = scorer.score_many(leads, reasons=reasons)
    click.echo(json.dumps(out if many else out[0], indent=2))


def _registry_ref(model_uri: str) -> tuple[str, str | None]:
    """(registered model name, version) of a ``models:/name@alias`` or ``models:/name/N`` URI."""
    from training import registry

    if not model_uri.startswith("models:/"):
        return "lead-scoring", None
    ref = model_uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = registry.alias_version(name, alias)
        if version is None:
            raise UsageFailure(f"model {name!r} has no version with alias {alias!r}")
        return name, version
    name, _, version = ref.partition("/")
    return name, version or None


@main.command()
@click.option("--model", "model_uri", default="models:/lead-scoring@champion", show_default=True, help="MLflow model URI to import and serve.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--max-batch", default=DEFAULT_MAX_BATCH, show_default=True, type=click.IntRange(1, HARD_MAX_BATCH), envvar=MAX_BATCH_ENV,
              help=f"Most leads per /score_batch request (also read from {MAX_BATCH_ENV}).")
@click.option("--bento-name", default="lead-scoring", show_default=True, help="Name of the model in the BentoML model store.")
@clean_errors
def serve(model_uri: str, host: str, port: int, max_batch: int, bento_name: str) -> None:
    """Import the model into the BentoML model store and serve the scoring API on it."""
    import os

    import bentoml

    from training import tracking

    tracking.configure("lead-scoring")
    name, version = _registry_ref(model_uri)
    step(f"importing {model_uri} (version {version}) into the BentoML model store")
    labels = {"registered_model": name, "registered_version": version or "unregistered", "source_uri": model_uri}
    model = bentoml.mlflow.import_model(bento_name, model_uri, labels=labels)
    step(f"serving {model.tag} on http://{host}:{port} (POST /score, POST /score_batch, GET /model, /docs)")
    env = {**os.environ, "LEADSCORE_BENTO_MODEL": str(model.tag), MAX_BATCH_ENV: str(max_batch)}
    bentoml_exe = Path(sys.executable).with_name("bentoml")
    cmd = [str(bentoml_exe), "serve", "serving.service:LeadScoring", "--host", host, "--port", str(port)]
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the server: signals (Ctrl-C, SIGTERM from a supervisor) reach BentoML directly,
    # which shuts its workers down; no orphaned server is left behind.
    os.execve(cmd[0], cmd, env)


@main.command()
@click.option("--model", "model_uri", default="models:/lead-scoring@champion", show_default=True, help="Any MLflow model URI of a leadscore bundle.")
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Data directory (leads, and events/identities if you have them); for a model trained on your own data, where its config's files are.")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path), help="Output file, .parquet or .csv (written atomically).")
@click.option("--reasons/--no-reasons", default=False, show_default=True, help="Add sub-scores and reasons (JSON) per target.")
@clean_errors
def score(model_uri: str, data_dir: Path, out_file: Path, reasons: bool) -> None:
    """Score every lead of a data directory as of its export time (batch path)."""
    from features.contract import load_tables
    from serving.batch import score_directory
    from training import tracking
    from training.registry import load_bundle

    tracking.configure("lead-scoring")
    step(f"loading {model_uri}")
    bundle = load_bundle(model_uri)
    data_config = (bundle.metadata.get("config") or {}).get("data")
    if data_config:  # trained on your own data: read the files the way its config does
        from features.source import DataConfig, load_source

        tables = load_source(DataConfig.model_validate(data_config), data_dir, for_scoring=True).tables
    else:
        tables = load_tables(data_dir)
    step(f"scoring {len(tables.leads):,} leads{' with reasons' if reasons else ''}")
    summary = score_directory(bundle, tables, out_file, reasons=reasons, progress=_lead_progress("scored"))
    step(f"wrote {summary['leads']:,} rows to {out_file} ({summary['leads_per_s']:,.0f} leads/s)")
    click.echo(json.dumps(summary))


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Data directory: data contract tables, or where a config's data section finds its files.")
@click.option("--model", "model_uri", default="", show_default=False, help="MLflow model URI of a leadscore bundle (adds grades, gain, calibration); empty: none.")
@click.option("--out", "out_dir", default="report", show_default=True, type=click.Path(path_type=Path), help="Output directory for report.json and report.html.")
@click.option("--ltv-multiplier", default=3.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="LTV = first-year revenue (deal_value) × this.")
@click.option("--score-age-days", default=1.0, show_default=True, type=click.FloatRange(min=0), help="With --model: score each lead as of this many days after its creation (point in time).")
@click.option("--score-at-export", is_flag=True, help="With --model: score every lead as of the export time instead (serving.batch.score_tables).")
@click.option("--config", "config_file", default=None, type=OptionalPath(), help="Training config whose data section reads your own data (default: the model's, if it has one).")
@clean_errors
def report(data_dir: Path, model_uri: str, out_dir: Path, ltv_multiplier: float, score_age_days: float, score_at_export: bool, config_file: Path | None) -> None:
    """Funnel report: conversion, costs, time to qualification, LTV:CAC, gain; HTML and JSON."""
    from features.contract import load_tables
    from features.source import DataConfig, load_source
    from training import tracking
    from training.config import load_config
    from training.report import build_report, log_report, model_scores, write_report

    t0 = time.perf_counter()
    tracking.configure("lead-scoring")
    bundle = None
    model_uri = model_uri.strip()
    if model_uri:
        from training.registry import load_bundle

        step(f"loading {model_uri}")
        bundle = load_bundle(model_uri)
    data_config = load_config(config_file).data if config_file else None
    if data_config is None and bundle is not None and (bundle.metadata.get("config") or {}).get("data"):
        data_config = DataConfig.model_validate(bundle.metadata["config"]["data"])
    step(f"loading {data_dir}")
    dimensions: dict[str, str] = {}
    data_info: dict[str, Any] = {}
    if data_config is not None:  # your own data, read as its config says
        source = load_source(data_config, data_dir)
        tables = source.tables
        dimensions = {name: source.columns.get(name, name) for name in source.schema.categorical}
        data_info = {"time_order": "row order (no timestamps)" if source.row_order else "created_at", "targets": list(source.schema.targets)}
    else:
        tables = load_tables(data_dir)
    scores = None
    info: dict[str, Any] = {}
    if bundle is not None:
        age = None if score_at_export else score_age_days
        scores = model_scores(bundle, tables, score_age_days=age, progress=step)
        scored_at = "export time" if age is None else f"created_at + {age:g} days"
        info = {"uri": model_uri, "name": bundle.name, "version": bundle.version, "scored_at": scored_at}
    result = build_report(
        tables, scores, ltv_multiplier=ltv_multiplier, model_info=info, progress=step, dimensions=dimensions, data_info=data_info
    )
    step(f"writing {out_dir}/report.json and report.html")
    paths = write_report(result, out_dir)
    tags = {"leadscore.data_dir": str(data_dir), "leadscore.model_uri": model_uri or "none"}
    run_id = log_report(paths, result, tags)
    seconds = round(time.perf_counter() - t0, 2)
    step(f"report done in {seconds} s (MLflow run {run_id})")
    click.echo(json.dumps({"out": [str(p) for p in paths], "run_id": run_id, "leads": result["funnel"]["leads"], "model": model_uri or None, "seconds": seconds}))
