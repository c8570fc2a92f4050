#!/usr/bin/env bash
# Builds the answering-machine-detection evaluation set: one 8 kHz mono 16-bit
# WAV per recipe line of tools/amd-eval/clips.txt (audio from the moment of
# answer), plus OUT/manifest.csv with the labels:
#
#   file,expected,has_beep,beep_ms,set
#
# where beep_ms is the beep's onset in ms from the start of the clip (empty
# without a beep) and set is core or hard (see clips.txt).
#
#   tools/amd-eval/generate.sh [--only it] [OUT]
#
# OUT defaults to ${TMPDIR:-/tmp}/parla-amd-eval. `--only it` builds the ≈10
# clips of the media integration test (recipes whose set contains "+it").
# Needs espeak-ng and sox (tools/install-deps.sh installs both).
#
# Deterministic: espeak-ng is; sox runs with -R (fixed seeds for noise and
# dither). The output depends only on clips.txt, this script and the
# espeak-ng/sox versions, and a stamp of those lets a repeated run with
# unchanged inputs return at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
only=""
if [[ "${1:-}" == "--only" ]]; then
    only="${2:?--only needs a set name}"
    shift 2
fi
out="${1:-${TMPDIR:-/tmp}/parla-amd-eval}"

for tool in espeak-ng sox soxi; do
    command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (run tools/install-deps.sh)" >&2; exit 3; }
done

mkdir -p "$out"
stamp="$( (cat "$here/clips.txt" "$here/generate.sh"; echo "only=$only"; espeak-ng --version; sox --version) | sha256sum | cut -d' ' -f1)"
if [[ -f "$out/manifest.csv" && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
    exit 0
fi
rm -f "$out/.stamp"

export SOX_OPTS="-R -q"
rate=8000
min_total_ms=7000
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# silence FILE MS
silence() { sox -r $rate -c 1 -n -b 16 "$1" trim 0 "$(( $2 * rate / 1000 ))s"; }
# samples FILE
samples() { soxi -s "$1"; }
# rms FILE -> RMS amplitude (0..1)
rms() { sox "$1" -n stat 2>&1 | awk '/RMS +amplitude/ { v = $3 } END { print v }'; }

# speak FILE VOICE SPEED GAIN_DB TEXT: trimmed of espeak's own leading and
# trailing silence, at 8 kHz, peak -3 dBFS plus GAIN_DB.
speak() {
    espeak-ng -v "$2" -s "$3" --stdout "$5" >"$work/raw.wav"
    sox "$work/raw.wav" -r $rate -c 1 -b 16 "$1" \
        silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse \
        gain -6 rate $rate gain -n "$(( $4 - 3 ))"
}

manifest="$work/manifest.csv"
echo "file,expected,has_beep,beep_ms,set" >"$manifest"
count=0
while IFS='|' read -r name expected set voice speed lead text gap text2 tail beep_hz beep_len noise snr gain ulaw; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    if [[ -n "$only" && "$set" != *"+$only"* ]]; then continue; fi
    gain="${gain:--6}"
    parts=()
    n=0 # samples so far
    add() { parts+=("$1"); n=$(( n + $(samples "$1") )); }
    silence "$work/lead.wav" "${lead:-0}"; add "$work/lead.wav"
    speech_rms=""
    if [[ -n "$text" ]]; then
        speak "$work/s1.wav" "$voice" "$speed" "$gain" "$text"
        speech_rms="$(rms "$work/s1.wav")"
        add "$work/s1.wav"
    fi
    if [[ -n "$text2" ]]; then
        silence "$work/gap.wav" "${gap:-0}"; add "$work/gap.wav"
        speak "$work/s2.wav" "$voice" "$speed" "$gain" "$text2"; add "$work/s2.wav"
    fi
    if [[ -n "$tail" ]]; then silence "$work/tail.wav" "$tail"; add "$work/tail.wav"; fi
    beep_ms=""
    if [[ -n "$beep_hz" ]]; then
        beep_ms=$(( n * 1000 / rate ))
        len_s="$(awk -v ms="$beep_len" 'BEGIN { printf "%.3f", ms / 1000 }')"
        sox -r $rate -c 1 -n -b 16 "$work/beep.wav" synth "$len_s" sine "$beep_hz" vol 0.3 fade 0.005 "$len_s" 0.005
        add "$work/beep.wav"
    fi
    silence "$work/post.wav" 1000; add "$work/post.wav"
    pad=$(( min_total_ms * rate / 1000 - n ))
    if (( pad > 0 )); then silence "$work/pad.wav" $(( pad * 1000 / rate )); add "$work/pad.wav"; fi
    sox "${parts[@]}" "$work/clean.wav"

    mixed="$work/clean.wav"
    if [[ -n "$noise" ]]; then
        sox -r $rate -c 1 -n -b 16 "$work/noise.wav" synth "$(samples "$work/clean.wav")s" "${noise}noise"
        factor="$(awk -v s="$speech_rms" -v nr="$(rms "$work/noise.wav")" -v snr="$snr" \
            'BEGIN { printf "%.6f", s / (10 ^ (snr / 20)) / nr }')"
        sox -m -v 1 "$work/clean.wav" -v "$factor" "$work/noise.wav" "$work/mixed.wav"
        mixed="$work/mixed.wav"
    fi
    # Telephone band, then optionally a G.711 u-law round trip.
    sox "$mixed" -b 16 "$work/band.wav" sinc 300-3400
    if [[ "$ulaw" == "1" ]]; then
        sox "$work/band.wav" -e u-law -b 8 "$work/ulaw.wav"
        sox "$work/ulaw.wav" -e signed-integer -b 16 "$out/$name.wav"
    else
        cp "$work/band.wav" "$out/$name.wav"
    fi
    has_beep=0; [[ -n "$beep_hz" ]] && has_beep=1
    echo "$name.wav,$expected,$has_beep,$beep_ms,${set%%+*}" >>"$manifest"
    count=$(( count + 1 ))
done <"$here/clips.txt"

cp "$manifest" "$out/manifest.csv"
echo "$stamp" >"$out/.stamp"
echo "generate.sh: $count clips in $out" >&2
