#!/usr/bin/env bash
# Debian packages that only some tests need: headless Chromium + ChromeDriver (the MLflow UI
# browser test) and PostgreSQL (the loopback cluster test's MLflow backend). Run as root.
# Installs only what is missing, so a second run costs nothing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
    echo "==> system packages present: chromium, chromium-driver, postgresql"
    exit 0
fi
echo "==> installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
