#!/usr/bin/env bash
# Install what the loopback cluster test (tests/cluster/) needs when it is missing:
# Debian's PostgreSQL server and psycopg2 in the project's venv. Idempotent; CI calls it first.
set -euo pipefail
cd "$(dirname "$0")/.."

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_postgres; then
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
  # The package starts a cluster on port 5432; the test runs its own on a free port instead.
fi

python=".venv/bin/python"
if ! "$python" -c "import psycopg2" 2>/dev/null; then
  "$python" -m pip install --quiet "psycopg2-binary>=2.9,<3"
fi
echo "cluster/ci-install.sh: PostgreSQL and psycopg2 ready"
