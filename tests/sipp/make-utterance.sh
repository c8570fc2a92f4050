#!/usr/bin/env bash
# Builds the caller utterance for uac_utterance.xml:
#   OUT_DIR/utterance.wav   8 kHz mono 16-bit PCM (for listening / comparing)
#   OUT_DIR/utterance.ulaw  the same, raw G.711 mu-law, no header: what
#                           SIPp's <exec rtp_stream="utterance.ulaw,1,0"/>
#                           sends, 160 bytes per 20 ms packet
# Usage: make-utterance.sh OUT_DIR ["text to speak"]
# Needs espeak-ng and sox. Generated at test time, never committed.
set -euo pipefail

out_dir=${1:?usage: make-utterance.sh OUT_DIR [TEXT]}
text=${2:-"Hello, I would like to book a table for two people tomorrow evening, please."}

command -v espeak-ng >/dev/null || { echo "make-utterance.sh: espeak-ng not installed" >&2; exit 2; }
command -v sox >/dev/null || { echo "make-utterance.sh: sox not installed" >&2; exit 2; }

mkdir -p "$out_dir"
tmp=$(mktemp "$out_dir/.espeak.XXXXXX.wav")
trap 'rm -f "$tmp"' EXIT

espeak-ng -v en-us -s 150 -w "$tmp" "$text"
# 8 kHz mono, 16-bit; then the same samples as headerless mu-law.
sox "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$out_dir/utterance.wav"
sox "$out_dir/utterance.wav" -t raw -r 8000 -c 1 -e u-law "$out_dir/utterance.ulaw"

echo "$out_dir/utterance.ulaw: $(stat -c %s "$out_dir/utterance.ulaw") bytes ($(soxi -D "$out_dir/utterance.wav") s)"
