#!/usr/bin/env bash
# Fuzz the parsers of bytes that arrive from outside for a bounded time per target.
#
#   fuzz/run.sh [SECONDS]      # SECONDS per target, default 30
#
# Targets: sip_message (classify_datagram + StreamFramer on arbitrary bytes),
# sdp (SessionDescription::parse + negotiate), rtp_inbound (RTP parse, source
# latching, telephone-events and the reordering buffer, as a call runs them),
# telephone_event (the RFC 4733 decoder, and encoder round trips), wav (the
# offline tools' WAV input), amd (the answering-machine detector on
# arbitrary audio, transcripts and slice lengths) and uac_response (an
# outbound call fed arbitrary responses in each of its states). Exits non-zero as soon as
# a target crashes (panic, failed assertion, sanitizer report, timeout);
# the crashing input is kept in fuzz/artifacts/<target>/ and can be replayed
# with:  RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a <target> fuzz/artifacts/<target>/<file>
#
# No nightly toolchain is needed: cargo-fuzz passes unstable flags
# (-Zsanitizer=address, ...) to rustc, which the stable compiler accepts when
# RUSTC_BOOTSTRAP=1 is set; stable rustup toolchains ship the ASan runtime.
# The build is release mode with debug assertions on (-O -a), so integer
# overflow panics too.
set -euo pipefail

secs="${1:-30}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..." >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi

export RUSTC_BOOTSTRAP=1

# Seed the corpora (fuzz/corpus/ is not committed).
torture="${PARLA_RFC4475_DIR:-$here/../testdata/rfc4475}"
mkdir -p corpus/sip_message corpus/sdp corpus/rtp_inbound corpus/telephone_event corpus/wav corpus/amd corpus/uac_response
if compgen -G "$torture/*.dat" >/dev/null; then
    cp "$torture"/*.dat corpus/sip_message/
else
    echo "warning: no RFC 4475 messages in $torture; seeding from fuzz/seeds only" >&2
fi
cp seeds/sip_message/* corpus/sip_message/
cp seeds/sdp/* corpus/sdp/
for t in rtp_inbound telephone_event wav amd; do cp seeds/$t/* corpus/$t/; done
# The SDP bodies of the torture messages make good SDP seeds too.
for f in corpus/sip_message/*.dat; do
    [[ -e "$f" ]] || continue
    awk 'body { print } /^\r?$/ && !body { body = 1 }' "$f" >"corpus/sdp/$(basename "$f" .dat).sdp"
done

status=0
for target in sip_message sdp rtp_inbound telephone_event wav amd uac_response; do
    echo "=== fuzzing $target for ${secs}s" >&2
    dict=()
    [[ "$target" == sip_message ]] && dict=(-dict=sip.dict)
    [[ "$target" == sdp ]] && dict=(-dict=sdp.dict)
    if ! cargo fuzz run -O -a "$target" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        "${dict[@]}" -print_final_stats=1; then
        echo "!!! $target crashed; see fuzz/artifacts/$target/" >&2
        status=1
        break
    fi
done
exit "$status"
