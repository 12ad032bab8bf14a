#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium + chromium-driver.
# Idempotent; prints what it skipped. Run as root (CI runs it from .ci/run).
set -uo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "chromium and chromedriver present"; exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "cannot install chromium here (need root + apt-get); browser tests will print SKIPPED"; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || echo "chromium install failed; browser tests will print SKIPPED"
command -v chromium && command -v chromedriver || true
