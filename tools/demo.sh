#!/usr/bin/env bash
# Brings up Parla in the foreground with the offline demo agent (parla.toml):
# espeak-ng TTS, the scripted `flow` LLM, and a local whisper tiny.en recognizer
# behind the OpenAI-compatible transcription API, started here and stopped on exit.
# Extra arguments go to `parla serve` (e.g. --public-ip 192.0.2.10).
# The first start imports parla.toml into the admin database (data/) and
# prints the generated super admin password; the admin API is on
# http://127.0.0.1:8080/api/v1.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
cargo build --release --bin parla

WHISPER_PORT="${PARLA_WHISPER_PORT:-9000}"
HF_HUB_OFFLINE=1 .venv/bin/python tools/whisper_server.py --host 127.0.0.1 --port "$WHISPER_PORT" &
WHISPER_PID=$!
trap 'kill $WHISPER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$WHISPER_PORT/health" >/dev/null 2>&1 && break
  kill -0 $WHISPER_PID 2>/dev/null || { echo "whisper server failed to start" >&2; exit 1; }
  sleep 0.5
done

# The local recognizer is plain HTTP on loopback, which the egress guard only
# lets providers reach when the operator allows it.
target/release/parla serve --config parla.toml --provider-allow "127.0.0.1:$WHISPER_PORT" "$@"
