#!/usr/bin/env bash
# Start the shared MLflow tracking server: PostgreSQL backend store, proxied object-store artifacts.
#
# Every setting comes from the environment (see mlflow-server.env.example); nothing secret is read
# from this repository. The PostgreSQL password is never put in the URI: libpq reads PGPASSWORD
# (or ~/.pgpass, or a PGPASSFILE) by itself. Object-store credentials are the cloud SDK's own
# (AWS_* variables, an instance role, GOOGLE_APPLICATION_CREDENTIALS, ...).
#
# Safe default: the server binds to 127.0.0.1. A non-loopback MLFLOW_HOST is refused unless
# MLflow's basic-auth app is on (MLFLOW_AUTH=basic) or MLFLOW_BEHIND_AUTH_PROXY=1 says that an
# authenticating reverse proxy is the only way in.
set -euo pipefail

: "${MLFLOW_PG_HOST:=127.0.0.1}"          # PostgreSQL host
: "${MLFLOW_PG_PORT:=5432}"               # PostgreSQL port
: "${MLFLOW_PG_DATABASE:=mlflow}"         # database holding the tracking store
: "${MLFLOW_PG_USER:=mlflow}"             # role; its password comes from PGPASSWORD / ~/.pgpass
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (e.g. s3://bucket/mlflow)}"
: "${MLFLOW_HOST:=127.0.0.1}"
: "${MLFLOW_PORT:=5000}"
: "${MLFLOW_WORKERS:=2}"
: "${MLFLOW_AUTH:=none}"                  # none | basic
: "${MLFLOW_BEHIND_AUTH_PROXY:=0}"
: "${MLFLOW_BIN:=mlflow}"

case "$MLFLOW_HOST" in
  127.0.0.1 | localhost | ::1) ;;
  *)
    if [[ "$MLFLOW_AUTH" != basic && "$MLFLOW_BEHIND_AUTH_PROXY" != 1 ]]; then
      echo "start-mlflow-server.sh: refusing to bind MLFLOW_HOST=$MLFLOW_HOST without" \
        "authentication: set MLFLOW_AUTH=basic, or MLFLOW_BEHIND_AUTH_PROXY=1 behind an" \
        "authenticating proxy" >&2
      exit 2
    fi
    ;;
esac

args=(
  server
  --host "$MLFLOW_HOST" --port "$MLFLOW_PORT" --workers "$MLFLOW_WORKERS"
  --backend-store-uri
  "postgresql+psycopg2://${MLFLOW_PG_USER}@${MLFLOW_PG_HOST}:${MLFLOW_PG_PORT}/${MLFLOW_PG_DATABASE}"
  --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
)
if [[ "$MLFLOW_AUTH" == basic ]]; then
  # Needs MLFLOW_AUTH_CONFIG_PATH (an ini whose database_uri is the user store),
  # MLFLOW_AUTH_ADMIN_PASSWORD for the first start, and MLFLOW_FLASK_SERVER_SECRET_KEY.
  args+=(--app-name basic-auth)
elif [[ "$MLFLOW_AUTH" != none ]]; then
  echo "start-mlflow-server.sh: MLFLOW_AUTH must be none or basic, got '$MLFLOW_AUTH'" >&2
  exit 2
fi
if [[ -n "${MLFLOW_ALLOWED_HOSTS:-}" ]]; then
  # The public name(s) the proxy forwards, for MLflow's Host-header check.
  args+=(--allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
fi

# Job execution starts extra workers and makes the start take about a minute.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"
exec "$MLFLOW_BIN" "${args[@]}"
