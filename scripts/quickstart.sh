#!/usr/bin/env bash
# The README's first command: set up on a fresh machine, then run the quickstart study
# (a real, small QM9 data-efficiency study) and print where its results are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 OMP_NUM_THREADS=1
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
.venv/bin/aimstudy run studies/quickstart.yaml "$@"
