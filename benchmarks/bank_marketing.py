"""Real data: leadscore against its baselines on the UCI bank telemarketing data.

Trains with ``examples/bank-marketing.yaml`` (leads-only, ``duration`` dropped, outcome
``y`` as a flag, row order as time order, the most recent 20% of rows as the test period)
and again without the five macro-economic columns, each on the same time-ordered split
for leadscore and the baselines. No MLflow: the training job without tracking.

Prints, as its last line, one JSON object: ``rows``, ``test_rows``, ``auc``, ``ece``,
``best_baseline_auc``, ``baseline_aucs`` (with the macro columns, as the example config
ships) and the same figures under ``without_macro``.

The test period drifts: its positive rate climbs from block to block. Two more figures show
how much of a pooled AUC that drift makes: ``row_order_auc``, the AUC of the row position
alone, and ``within_block_aucs``, each model's mean AUC over eight consecutive blocks of
the test period (ranking within a stretch of time, where the drift is small). And per
baseline, ``leadscore_minus_baseline``: leadscore's AUC minus the baseline's, pooled and
within blocks, each with a paired bootstrap standard error (test rows resampled within their
block, so the drift between blocks stays as it is).

``--first-rows N`` keeps only the first N calls, an earlier window of the same data: the
test period becomes the last 20% of those, to see whether a comparison holds outside the
one split the example ships with.

Usage: python benchmarks/bank_marketing.py --data PATH/TO/bank-marketing [--seed N] [--set KEY=VALUE] [--first-rows N]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import the project's packages, not scripts named like them
MACRO = ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed")
BLOCKS = 8  # consecutive blocks of the test period for the within-block AUC
BOOTSTRAP = 200  # resamples for the standard errors


def blocks_of(y: np.ndarray, position: np.ndarray) -> list[np.ndarray]:
    """Row indices of ``BLOCKS`` consecutive stretches of the test rows, each with both classes."""
    order = np.argsort(position, kind="stable")
    blocks = [b for b in np.array_split(order, BLOCKS) if 0 < y[b].sum() < len(b)]
    if not blocks:
        raise SystemExit("no block of the test period has both classes")
    return blocks


def within_block_auc(y: np.ndarray, score: np.ndarray, blocks: list[np.ndarray]) -> float:
    return float(np.mean([roc_auc_score(y[b], score[b]) for b in blocks]))


def paired_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, blocks: list[np.ndarray]) -> dict[str, float]:
    """AUC(a) - AUC(b), pooled and within blocks, with bootstrap standard errors."""
    rng = np.random.default_rng(0)
    pooled, within = [], []
    for _ in range(BOOTSTRAP):
        draw = [rng.choice(blk, len(blk)) for blk in blocks]
        rows = np.concatenate(draw)
        pooled.append(roc_auc_score(y[rows], a[rows]) - roc_auc_score(y[rows], b[rows]))
        within.append(within_block_auc(y, a, draw) - within_block_auc(y, b, draw))
    rows = np.concatenate(blocks)
    return {
        "pooled": round(float(roc_auc_score(y[rows], a[rows]) - roc_auc_score(y[rows], b[rows])), 4),
        "pooled_se": round(float(np.std(pooled)), 4),
        "within_blocks": round(within_block_auc(y, a, blocks) - within_block_auc(y, b, blocks), 4),
        "within_blocks_se": round(float(np.std(within)), 4),
    }


def evaluate(data: Path, overrides: dict[str, object]) -> dict[str, object]:
    from training.config import LABEL_OF, load_config
    from training.train import load_training_data, train_bundle

    config = load_config(ROOT / "examples" / "bank-marketing.yaml", overrides)
    t0 = time.perf_counter()
    loaded = load_training_data(data, config)
    result = train_bundle(loaded.tables, config, source=loaded.source, progress=lambda m: print(f"  {m}", file=sys.stderr))
    seconds = time.perf_counter() - t0  # loading and training, not the bootstrap below
    target = config.targets[0]
    m = result.metrics[target]
    baselines = {b: round(v["roc_auc"], 4) for b, v in result.baseline_metrics[target].items()}
    y = result.snapshots[LABEL_OF[target]].to_numpy()
    test = result.splits[target].test & ~np.isnan(y)
    leads = result.snapshots["lead"].to_numpy()
    assert len(np.unique(leads)) == len(leads), "leads-only data has one snapshot per lead"
    y_test, position = y[test], leads[test]  # the leads file's row: its time order here
    scores = result.info["test_scores"][target]
    assert all(len(s) == len(y_test) for s in scores.values())
    blocks = blocks_of(y_test, position)
    return {
        "rows": len(loaded.tables.leads),
        "test_rows": int(m["rows"]),
        "test_positive_rate": round(m["base_rate"], 4),
        "auc": round(m["roc_auc"], 4),
        "ece": round(m["ece"], 4),
        "validation_auc": round(m["validation_auc"], 4),
        "early_stopped_rounds": int(m["early_stopped_rounds"]),
        "validation_warning": result.info["validation_warnings"].get(target),
        "best_baseline_auc": max(baselines.values()),
        "baseline_aucs": baselines,
        "auc_over_best_baseline": round(m["roc_auc"] - max(baselines.values()), 4),
        "row_order_auc": round(float(roc_auc_score(y_test, position)), 4),
        "within_block_aucs": {name: round(within_block_auc(y_test, s, blocks), 4) for name, s in scores.items()},
        "blocks": len(blocks),
        "leadscore_minus_baseline": {
            b: paired_difference(y_test, scores["leadscore"], scores[b], blocks) for b in baselines
        },
        "features": len(result.bundle.pipeline.feature_names_),
        "seed": config.seed,
        "num_leaves": int(m["num_leaves"]),
        "seconds": round(seconds, 2),
    }


def first_rows(data: Path, n: int, out: Path) -> Path:
    """A copy of the data directory's calls file with its header and first ``n`` calls only."""
    name = "bank-additional-full.csv"
    with open(data / name, encoding="utf-8") as src:
        lines = src.readlines()
    if not 0 < n < len(lines) - 1:
        raise SystemExit(f"--first-rows: expected 1 to {len(lines) - 2:,} (the file has {len(lines) - 1:,} calls), got {n}")
    (out / name).write_text("".join(lines[: n + 1]), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="Directory holding bank-additional-full.csv.")
    parser.add_argument("--seed", type=int, help="Training seed (default: the example's, 42); the spread over seeds is part of the figure.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a key of the example config, e.g. --set lightgbm.num_leaves_candidates=[]")
    parser.add_argument("--first-rows", type=int, metavar="N", help="Use only the first N calls: an earlier time window, its last 20%% the test period.")
    args = parser.parse_args()
    from training.config import ConfigError, parse_overrides

    try:
        overrides: dict[str, object] = parse_overrides(args.overrides)
    except ConfigError as e:
        parser.error(str(e))
    if args.seed is not None:
        overrides["seed"] = args.seed
    from training.config import load_config

    shipped = load_config(ROOT / "examples" / "bank-marketing.yaml").data
    assert shipped is not None
    numeric = [c for c in shipped.attributes.numeric if c not in MACRO]
    with tempfile.TemporaryDirectory(prefix="bank-window-") as tmp:
        data: Path = args.data
        if args.first_rows is not None:
            data = first_rows(data, args.first_rows, Path(tmp))
            print(f"using the first {args.first_rows:,} calls only", file=sys.stderr)
        print("with the macro columns (examples/bank-marketing.yaml as shipped)", file=sys.stderr)
        out = evaluate(data, overrides)
        print("without the five macro columns", file=sys.stderr)
        out["without_macro"] = evaluate(data, {**overrides, "data.attributes.numeric": numeric})
    out["first_rows"] = args.first_rows
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
