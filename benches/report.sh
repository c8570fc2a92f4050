#!/usr/bin/env bash
# Runs Parla's criterion benchmarks briefly and prints a Markdown table of the
# results from criterion's JSON output (target/criterion/*/*/new/estimates.json,
# mean point estimate):
#   ns per 20 ms frame (per message for sip/*), frames per core-second
#   (= 1e9 / ns) and, for the whole-call benches (call_media/*, except
#   rtp_write), the implied upper bound of concurrent calls per core
#   (frames per core-second / 50).
#
# Usage: benches/report.sh [--no-run] [criterion filter...]
#   --no-run   only print the table from the last results
#   filter     passed to the bench binaries, e.g. `benches/report.sh vad`
# Env: BENCH_ARGS (default "--warm-up-time 1 --measurement-time 3").
set -euo pipefail
cd "$(dirname "$0")/.."

run=1
if [[ "${1:-}" == "--no-run" ]]; then
    run=0
    shift
fi
if ((run)); then
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
    cargo bench -p parla-benches -- ${BENCH_ARGS:---warm-up-time 1 --measurement-time 3} "$@"
fi

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

python3 - "$target_dir/criterion" <<'EOF'
import json
import os
import sys

root = sys.argv[1]
groups = ["g711", "resample", "jitter", "vad", "sip", "conversation", "call_media"]
FRAMES_PER_CALL_SECOND = 1000 // 20

rows = []
for group in groups:
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir):
        continue
    for name in sorted(os.listdir(gdir)):
        new = os.path.join(gdir, name, "new")
        try:
            with open(os.path.join(new, "benchmark.json")) as f:
                bench = json.load(f)
            with open(os.path.join(new, "estimates.json")) as f:
                est = json.load(f)
        except FileNotFoundError:
            continue
        mean = est["mean"]
        ns = mean["point_estimate"]
        ci = mean["confidence_interval"]
        unit = "message" if group == "sip" else "frame"
        per_s = 1e9 / ns
        calls = ""
        if group == "call_media" and bench["function_id"] != "rtp_write":
            calls = f"{per_s / FRAMES_PER_CALL_SECOND:,.0f}"
        rows.append((
            bench["full_id"],
            unit,
            f"{ns:,.1f}",
            f"{ci['lower_bound']:,.1f} – {ci['upper_bound']:,.1f}",
            f"{per_s:,.0f}",
            calls,
        ))

if not rows:
    sys.exit(f"no criterion results under {root}: run the benches first")

header = (
    "benchmark",
    "per",
    "mean ns",
    "95% CI (ns)",
    "per core-second",
    "calls per core (upper bound)",
)
widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
right = {2, 3, 4, 5}


def line(cells):
    out = []
    for i, c in enumerate(cells):
        out.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
    return "| " + " | ".join(out) + " |"


print(line(header))
print("|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                     for i, w in enumerate(widths)) + "|")
for r in rows:
    print(line(r))
EOF
