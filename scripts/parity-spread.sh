#!/usr/bin/env bash
# Long-run training parity against PyTorch, over seeds (VALIDATION.md).
# Single f32 trajectories decorrelate after a few dozen steps (rounding is
# amplified during the fast descent), so at 2,000 steps the comparison is
# between distributions: for every seed, emerge (fast and candle backends)
# and PyTorch train the same initial weights on the same batches; the final
# losses are then compared pairwise over seeds (torch_replay.py spread).
#
#   scripts/parity-spread.sh                                  # (2,64,4), 6 seeds, 2,000 steps
#   SHAPE=4,128,4 SEEDS="0 1" IMPLS="fast torch" scripts/parity-spread.sh
#
# Environment: SHAPE (L,D,H), SEEDS, STEPS, IMPLS (any of fast candle torch),
# THREADS (2), TORCH_THREADS (default THREADS), OUT (folder of the exports, default /tmp/parity-spread),
# EMERGE (binary; default: cargo build --release), VENV (the peer venv).
# A trace already in OUT is kept, so an interrupted run continues.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHAPE=${SHAPE:-2,64,4}
SEEDS=${SEEDS:-"0 1 2 3 4 5"}
STEPS=${STEPS:-2000}
IMPLS=${IMPLS:-"fast torch candle"}
THREADS=${THREADS:-2}
# PyTorch's OpenMP threads slow down many times over when other processes
# share the cores; on a busy machine give it one thread (another summation
# order, so another trajectory, which is all the comparison needs).
TORCH_THREADS=${TORCH_THREADS:-$THREADS}
OUT=${OUT:-/tmp/parity-spread}
VENV=${VENV:-$HOME/.cache/emerge-peers/venv}
PY="$VENV/bin/python"
CFG="$ROOT/docs/parity/parity.toml"
"$PY" -c 'import torch' 2>/dev/null || { echo "parity-spread: no torch in $VENV (scripts/peers/install_torch_cpu.sh)" >&2; exit 2; }
if [ -z "${EMERGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p harness)
  EMERGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/emerge"
fi
dirs=()
for s in $SEEDS; do
  d="$OUT/$(echo "$SHAPE" | tr , -)-s$s"
  dirs+=("$d")
  [ -s "$d/batches.safetensors" ] || "$EMERGE" export --config "$CFG" --shape "$SHAPE" --seed "$s" --steps "$STEPS" --out "$d" >/dev/null
  for impl in $IMPLS; do
    [ -s "$d/trace_$impl.csv" ] && continue
    t0=$(date +%s)
    case $impl in
      torch) "$PY" "$ROOT/scripts/torch_replay.py" train "$d" --threads "$TORCH_THREADS" >/dev/null ;;
      *) "$EMERGE" export --config "$CFG" --shape "$SHAPE" --seed "$s" --steps "$STEPS" --out "$d" \
           --train --kernels "$impl" --threads "$THREADS" >/dev/null ;;
    esac
    echo "seed $s $impl: $(( $(date +%s) - t0 )) s" >&2
  done
done
"$PY" "$ROOT/scripts/torch_replay.py" spread "${dirs[@]}" --tags "$(echo "$IMPLS" | tr ' ' ,)"
