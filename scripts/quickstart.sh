#!/usr/bin/env bash
# The README's first command: set up on a fresh machine, then run the quickstart study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MLFLOW_DISABLE_TELEMETRY=true RAY_USAGE_STATS_ENABLED=0
.venv/bin/aimstudy data describe qm9
