#!/bin/bash
# Start the `overnight` preset (about 8 hours on 2 cores) in the background,
# logging to runs/overnight.log. Safe to run again after a crash or a reboot:
# the sweep resumes where it stopped. Extra arguments go to `emerge sweep`
# (e.g. --threads 4, --name overnight2).
#
#   scripts/overnight.sh
#   target/release/emerge status --run runs/overnight   # jobs done and running, steps, ETA
#   tail -f runs/overnight.log        # progress lines every 30 s
#   runs/overnight/report.md          # in the morning: verdicts, claims, every chart
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
cargo build --release -p harness
nohup cargo run --release -q -p harness -- sweep --preset overnight "$@" >> runs/overnight.log 2>&1 &
echo "emerge sweep started (pid $!); log: runs/overnight.log; look in: target/release/emerge status --run runs/overnight"
