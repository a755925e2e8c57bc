#!/usr/bin/env bash
# The main job on the embedded default: synthetic data → features → training tracked in
# a SQLite-backed MLflow (./mlflow.db) → champion model → local BentoML scoring server,
# answering a sample request. KEEP_SERVING=1 leaves the server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
LEADS="${LEADS:-20000}"
PORT="${PORT:-3000}"
echo "» generating $LEADS synthetic leads" >&2
leadscore generate --leads "$LEADS" --seed 0 --out data/synthetic
echo "» training (MLflow tracking: ${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db})" >&2
leadscore train --data data/synthetic
echo "» starting the scoring server on port $PORT" >&2
leadscore serve --model models:/lead-scoring@champion --port "$PORT" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
python scripts/sample_request.py "http://127.0.0.1:$PORT"
echo "» done. MLflow UI: mlflow ui --backend-store-uri sqlite:///mlflow.db ; API docs: http://127.0.0.1:$PORT/docs" >&2
if [ "${KEEP_SERVING:-0}" = "1" ]; then
  trap - EXIT
  echo "» serving on http://127.0.0.1:$PORT (Ctrl-C to stop)" >&2
  wait $server
fi
