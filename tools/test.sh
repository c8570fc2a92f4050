#!/usr/bin/env bash
# Runs Parla's whole test suite on this machine (installing what is missing first):
# unit and integration tests of every crate (real SIPp, espeak-ng, a local whisper
# recognizer, the in-repo Rust test caller against the real `parla` binary), then a
# bounded fuzz run of the SIP and SDP parsers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

./tools/install-deps.sh
./tools/start-postgres.sh
# The storage tests run against SQLite and this PostgreSQL; in CI a missing
# PostgreSQL is a failure, not a skip.
export PARLA_TEST_POSTGRES_URL="${PARLA_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export PARLA_REQUIRE_POSTGRES="${PARLA_REQUIRE_POSTGRES:-1}"
# The panel runs in headless Chromium and the API under schemathesis; in CI a
# missing browser or schemathesis is a failure, not a skip.
export PARLA_REQUIRE_BROWSER="${PARLA_REQUIRE_BROWSER:-1}"
export PARLA_REQUIRE_SCHEMATHESIS="${PARLA_REQUIRE_SCHEMATHESIS:-1}"
# SIPp and the built binaries: a missing one fails the test, never skips it.
export PARLA_REQUIRE_TOOLS="${PARLA_REQUIRE_TOOLS:-1}"

# One shared local whisper recognizer (OpenAI-compatible API) for every test.
# A free port, so a recognizer left over from an interrupted run cannot get in the way.
WHISPER_PORT="${PARLA_TEST_WHISPER_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if [ -z "${PARLA_TEST_WHISPER_URL:-}" ]; then
  HF_HUB_OFFLINE=1 .venv/bin/python tools/whisper_server.py --host 127.0.0.1 --port "$WHISPER_PORT" --parent-pid $$ \
    >"${TMPDIR:-/tmp}/parla-test-whisper.log" 2>&1 &
  WHISPER_PID=$!
  trap 'kill $WHISPER_PID 2>/dev/null || true' EXIT
  export PARLA_TEST_WHISPER_URL="http://127.0.0.1:$WHISPER_PORT/v1"
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$WHISPER_PORT/health" >/dev/null 2>&1 && break
    kill -0 $WHISPER_PID 2>/dev/null || { cat "${TMPDIR:-/tmp}/parla-test-whisper.log"; exit 1; }
    sleep 0.5
  done
fi

# Every crate's tests run under cargo-nextest, one process per test (test groups
# in .config/nextest.toml keep the speech and browser tests one at a time).
# Benches are type-checked, not linked; doc tests run separately (nextest
# doesn't run them).
cargo check --workspace --benches --quiet
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc --quiet

# Bounded fuzz run of the SIP and SDP parsers (seconds per target).
bash fuzz/run.sh "${PARLA_FUZZ_SECONDS:-30}"
