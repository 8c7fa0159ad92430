#!/usr/bin/env bash
# The README's test command: the whole suite, integration tests included, one torch thread.
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 OMP_NUM_THREADS=1
exec .venv/bin/python -m pytest "$@"
