#!/usr/bin/env bash
# Installs what Parla needs on a fresh Debian machine (idempotent; run as root):
# apt packages for speech, SIP testing and linking, and the Python venv with the
# local whisper recognizer. Safe to run repeatedly: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(curl fonts-dejavu-core espeak-ng libespeak-ng-dev sox sip-tester pkg-config ca-certificates chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash tools/setup-python.sh >/dev/null

# The test runner: one process per test, test groups for the speech and browser
# tests (.config/nextest.toml). Preinstalled on the project's machines; built
# from crates.io (a few minutes) where it is missing.
NEXTEST_VERSION=0.9.143
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest $NEXTEST_VERSION"
  cargo install --locked cargo-nextest --version "$NEXTEST_VERSION"
fi
