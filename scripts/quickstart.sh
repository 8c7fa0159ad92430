#!/usr/bin/env bash
# The README's first command: set up on a fresh machine, run the quickstart study (a real, small
# QM9 data-efficiency study), then write its report. Prints where the results are and the
# command that opens the MLflow UI on them. Extra arguments go to `aimstudy run`: run it again
# with --new-launch (a second launch in results/quickstart; without it a second run is refused).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0 OMP_NUM_THREADS=1
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
.venv/bin/aimstudy run studies/quickstart.yaml "$@"
.venv/bin/aimstudy report studies/quickstart.yaml
