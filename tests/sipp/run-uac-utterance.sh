#!/usr/bin/env bash
# Runs uac_utterance.xml once against a SIP server and reports SIPp's verdict.
# Usage: run-uac-utterance.sh TARGET_IP:PORT [LISTEN_MS] [WORK_DIR]
#   LISTEN_MS  time in the call after the utterance starts (default 8000)
#   WORK_DIR   where the utterance, SIPp logs and stats go (default: mktemp)
# Exit status: SIPp's (0 = the one call succeeded). Env: SERVICE (Request-URI
# user, default "agent"), SIP_PORT (SIPp's SIP port), MEDIA_PORT (base RTP
# port; both default to a free port), SIPP_EXTRA (more SIPp options).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: run-uac-utterance.sh TARGET_IP:PORT [LISTEN_MS] [WORK_DIR]}
listen_ms=${2:-8000}
work=${3:-$(mktemp -d "${TMPDIR:-/tmp}/parla-sipp.XXXXXX")}
service=${SERVICE:-agent}
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# SIPp's own SIP port: -p 0 would bind a random port but still write 5060 in
# Via/Contact ([local_port]), so pick a free one.
sip_port=${SIP_PORT:-$(free_udp_port)}
media_port=${MEDIA_PORT:-$(free_udp_port)}

[ -s "$work/utterance.ulaw" ] || "$here/make-utterance.sh" "$work" >/dev/null

cd "$work"   # SIPp reads utterance.ulaw from its working directory
set +e
sipp -sf "$here/uac_utterance.xml" -s "$service" \
  -i 127.0.0.1 -p "$sip_port" -mi 127.0.0.1 -mp "$media_port" \
  -aa -m 1 -l 1 -d "$listen_ms" -timeout 60s -timeout_error -max_recv_loops 1000 \
  -nostdin -trace_stat -stf stat.csv -trace_err -error_file errors.log \
  ${SIPP_EXTRA:-} "$target" > sipp.out 2>&1
rc=$?
set -e
echo "sipp exit $rc (0 = call succeeded); logs in $work"
exit $rc
