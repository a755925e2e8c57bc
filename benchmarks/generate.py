"""Benchmark the synthetic funnel generator: wall time and peak memory.

Usage: ``python benchmarks/generate.py --leads 100000 [--seed 0] [--out DIR]``.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/features.py is named like the `features` package: import the package instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from features.generate import generate, write_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: temp)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    marks: dict[str, float] = {}

    def progress(msg: str) -> None:
        marks[msg.split()[0]] = round(time.perf_counter() - t0, 3)
        print(f"[{time.perf_counter() - t0:7.2f}s] {msg}", file=sys.stderr)

    tables, oracle = generate(args.leads, seed=args.seed, progress=progress)
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        write_dataset(tables, oracle, out)
        size_mb = sum(p.stat().st_size for p in Path(out).iterdir()) / 1e6
    seconds = time.perf_counter() - t0
    outcomes = tables.outcomes
    result = {
        "leads": len(tables.leads),
        "events": len(tables.events),
        "identities": len(tables.identities),
        "seconds": round(seconds, 2),
        "generate_seconds": round(t_gen, 2),
        "write_seconds": round(seconds - t_gen, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "files_mb": round(size_mb, 1),
        "qualified_rate": round(float(outcomes["qualified_at"].notna().mean()), 4),
        "acquired_rate": round(float(outcomes["acquired_at"].notna().mean()), 4),
        "stages": marks,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
