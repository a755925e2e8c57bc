"""Training benchmark: the whole `leadscore train` job on N generated leads.

Generates the data first (not timed), then times snapshots → features → both models →
calibration → evaluation with baselines → MLflow logging and registration, in a temporary
SQLite-backed MLflow. Prints, as its last line, one JSON object with ``seconds``,
``peak_rss_mb`` and, per target, ``<t>_auc``, ``<t>_oracle_auc``, ``<t>_oracle_gap`` (with
``<t>_oracle_gap_se``, its bootstrap standard error over the test period's leads),
``<t>_ece``, ``<t>_best_baseline_auc``.

Usage: python benchmarks/training.py --leads 100000 [--seed 0] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the `training` package: import the package, not this script.
sys.path[0] = str(Path(__file__).resolve().parent.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    from training.config import ConfigError, parse_overrides

    try:
        overrides = parse_overrides(args.overrides)
    except ConfigError as e:
        parser.error(str(e))

    from features.generate import generate, write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        tables, oracle = generate(args.leads, seed=args.seed)
        write_dataset(tables, oracle, data)
        n_events = len(tables.events)
        del tables, oracle
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.chdir(tmp)  # MLflow's default artifact root lands in the temporary directory

        from training.config import load_config
        from training.train import run

        config = load_config(None, overrides)
        t0 = time.perf_counter()
        summary = run(data, config, progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f}s] {m}", file=sys.stderr))
        seconds = time.perf_counter() - t0

    out: dict[str, object] = {
        "leads": args.leads,
        "events": n_events,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "gate": summary["gate"]["decision"],
    }
    for t, m in summary["metrics"].items():
        best = max(summary["baselines"][t].values())
        out[f"{t}_auc"] = round(m["roc_auc"], 4)
        out[f"{t}_oracle_auc"] = round(summary["oracle_auc"].get(t, float("nan")), 4)
        out[f"{t}_oracle_gap"] = round(out[f"{t}_oracle_auc"] - m["roc_auc"], 4)  # type: ignore[operator]
        out[f"{t}_oracle_gap_se"] = round(summary["oracle_gap_se"].get(t, float("nan")), 4)
        out[f"{t}_ece"] = round(m["ece"], 4)
        out[f"{t}_best_baseline_auc"] = round(best, 4)
        out[f"{t}_auc_over_best_baseline"] = round(m["roc_auc"] - best, 4)
        out[f"{t}_baseline_aucs"] = {b: round(v, 4) for b, v in summary["baselines"][t].items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
