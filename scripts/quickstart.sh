#!/usr/bin/env bash
# The main job on the embedded default: synthetic data → features → training tracked in
# a SQLite-backed MLflow (./mlflow.db) → champion model → a sample scoring request.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
LEADS="${LEADS:-20000}"
echo "» generating $LEADS synthetic leads" >&2
leadscore generate --leads "$LEADS" --seed 0 --out data/synthetic
echo "» training (MLflow tracking: ${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db})" >&2
leadscore train --data data/synthetic
echo "» scoring the sample lead with models:/lead-scoring@champion" >&2
leadscore predict --model models:/lead-scoring@champion --example
echo "» done. Browse the runs with: .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db" >&2
