#!/usr/bin/env bash
# Debian packages that the MLflow-UI browser test needs: headless Chromium and ChromeDriver.
# (PostgreSQL for the loopback cluster test: cluster/ci-install.sh.) Run as root or with sudo.
# Installs only what is missing, so a second run costs nothing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
    echo "==> system packages present: chromium, chromium-driver"
    exit 0
fi
echo "==> installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
