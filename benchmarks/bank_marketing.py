"""Real data: leadscore against its baselines on the UCI bank telemarketing data.

Trains with ``examples/bank-marketing.yaml`` (leads-only, ``duration`` dropped, outcome
``y`` as a flag, row order as time order, the most recent 20% of rows as the test period)
and again without the five macro-economic columns, each on the same time-ordered split
for leadscore and the baselines. No MLflow: the training job without tracking.

Prints, as its last line, one JSON object: ``rows``, ``test_rows``, ``auc``, ``ece``,
``best_baseline_auc``, ``baseline_aucs`` (with the macro columns, as the example config
ships) and the same figures under ``without_macro``.

Usage: python benchmarks/bank_marketing.py --data PATH/TO/bank-marketing
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import the project's packages, not scripts named like them
MACRO = ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed")


def evaluate(data: Path, overrides: dict[str, object]) -> dict[str, object]:
    from training.config import load_config
    from training.train import load_training_data, train_bundle

    config = load_config(ROOT / "examples" / "bank-marketing.yaml", overrides)
    t0 = time.perf_counter()
    loaded = load_training_data(data, config)
    result = train_bundle(loaded.tables, config, source=loaded.source, progress=lambda m: print(f"  {m}", file=sys.stderr))
    target = config.targets[0]
    m = result.metrics[target]
    baselines = {b: round(v["roc_auc"], 4) for b, v in result.baseline_metrics[target].items()}
    return {
        "rows": len(loaded.tables.leads),
        "test_rows": int(m["rows"]),
        "test_positive_rate": round(m["base_rate"], 4),
        "auc": round(m["roc_auc"], 4),
        "ece": round(m["ece"], 4),
        "best_baseline_auc": max(baselines.values()),
        "baseline_aucs": baselines,
        "auc_over_best_baseline": round(m["roc_auc"] - max(baselines.values()), 4),
        "features": len(result.bundle.pipeline.feature_names_),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="Directory holding bank-additional-full.csv.")
    args = parser.parse_args()
    print("with the macro columns (examples/bank-marketing.yaml as shipped)", file=sys.stderr)
    out = evaluate(args.data, {})
    from training.config import load_config

    shipped = load_config(ROOT / "examples" / "bank-marketing.yaml").data
    assert shipped is not None
    numeric = [c for c in shipped.attributes.numeric if c not in MACRO]
    print("without the five macro columns", file=sys.stderr)
    out["without_macro"] = evaluate(args.data, {"data.attributes.numeric": numeric})
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
