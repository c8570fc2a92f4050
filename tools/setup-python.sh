#!/usr/bin/env bash
# Creates .venv at the repo root for the local speech recognizer and installs
# tools/requirements.txt into it, only when the requirements changed.
# Idempotent. Prints the venv's python path on stdout (last line).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/tools/requirements.txt"
stamp="$venv/.requirements.sha256"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-python: creating $venv" >&2
    "$py" -m venv "$venv"
fi

want="$( (cat "$req"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    echo "setup-python: installing $req" >&2
    start=$(date +%s)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
    echo "setup-python: installed in $(( $(date +%s) - start )) s" >&2
fi
echo "$venv/bin/python"
