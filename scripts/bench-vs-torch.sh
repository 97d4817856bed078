#!/usr/bin/env bash
# emerge vs PyTorch on the peer ladder, side by side: for every size and mode,
# the PyTorch peer and `emerge bench` run alternately (REPS rounds), and the
# table gives the median tokens/s of each and the ratio emerge/torch.
#
# Not run by CI: installing the peer downloads ~2.3 GB.
#
#   scripts/bench-vs-torch.sh                 # full ladder, train + generate
#   MODES=train LADDER="1,32,2 4,128,4" REPS=3 scripts/bench-vs-torch.sh
#
# Environment:
#   VENV      peer venv (default ~/.cache/emerge-peers/venv); installed with
#             scripts/peers/install_torch_cpu.sh when it has no torch
#   PEERS     folder of torch_gpt_bench.py (default scripts/peers from the repo)
#   EMERGE    an emerge binary to use instead of building one (cargo build --release)
#   BASE      optional second emerge binary (say, a build of an older commit),
#             run in the same rounds; the table then adds its tok/s and the
#             ratio emerge/base (of the medians, and the median of the
#             per-round ratios), so a refactor's speed is judged side by side
#   THREADS   threads for both (default 2)
#   LADDER    space-separated L,d,H (default: the issue's six sizes)
#   MODES     "train generate" (default), or one of them
#   REPS      alternating rounds per size and mode (default 1)
#   OUT       also write the table (markdown) to this file
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$HOME/.cache/emerge-peers/venv}
PEERS=${PEERS:-$ROOT/scripts/peers}
THREADS=${THREADS:-2}
LADDER=${LADDER:-"1,32,2 2,64,2 4,128,4 6,192,6 8,256,8 8,384,8"}
MODES=${MODES:-"train generate"}
REPS=${REPS:-1}
PY="$VENV/bin/python"

if ! { [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; }; then
  echo "== installing the PyTorch peer into $VENV" >&2
  VENV="$VENV" bash "$PEERS/install_torch_cpu.sh"
fi
if [ -z "${EMERGE:-}" ]; then
  echo "== building emerge (release)" >&2
  (cd "$ROOT" && cargo build --release -q -p harness)
  EMERGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/emerge"
fi

# Steps/warmup per size (larger models: fewer steps so each run stays short).
steps_for() { # mode L d
  case "$1:$3" in
    train:32 | train:64 | train:128) echo "30 5" ;;
    train:192) echo "15 3" ;;
    train:256) echo "10 2" ;;
    train:*) echo "6 2" ;;
    generate:*) echo "10 2" ;;
  esac
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

BASE=${BASE:-}
if [ -n "$BASE" ]; then
  table="| mode | (L,d,H) | torch tok/s | emerge tok/s | emerge/torch | base tok/s | emerge/base | median round emerge/base |
|---|---|---|---|---|---|---|---|"
else
  table="| mode | (L,d,H) | torch tok/s | emerge tok/s | emerge/torch |
|---|---|---|---|---|"
fi
echo "$(date -u '+%Y-%m-%d %H:%M UTC') | $(nproc) CPUs | threads=$THREADS | $("$PY" -c 'import torch; print("torch", torch.__version__)') | $EMERGE" >&2
for mode in $MODES; do
  key=tokens_per_sec
  [ "$mode" = generate ] && key=gen_tokens_per_sec
  for cfg in $LADDER; do
    IFS=, read -r L D H <<<"$cfg"
    read -r S W <<<"$(steps_for "$mode" "$L" "$D")"
    common=(--vocab 32 --layers "$L" --d-model "$D" --heads "$H" --context 64 --batch 32
      --steps "$S" --warmup-steps "$W" --threads "$THREADS")
    t_all=() e_all=() b_all=()
    for _ in $(seq "$REPS"); do
      t=$(OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS "$PY" "$PEERS/torch_gpt_bench.py" \
        --mode "$mode" "${common[@]}" | sed -n "s/^$key=//p")
      e=$("$EMERGE" bench "$mode" "${common[@]}" | sed -n "s/^$key=//p")
      t_all+=("$t") e_all+=("$e")
      if [ -n "$BASE" ]; then
        b=$("$BASE" bench "$mode" "${common[@]}" | sed -n "s/^$key=//p")
        b_all+=("$b")
        echo "   $mode ($cfg): torch $t  emerge $e  base $b" >&2
      else
        echo "   $mode ($cfg): torch $t  emerge $e" >&2
      fi
    done
    tm=$(printf '%s\n' "${t_all[@]}" | median)
    em=$(printf '%s\n' "${e_all[@]}" | median)
    ratio=$(awk -v a="$em" -v b="$tm" 'BEGIN {printf "%.2f", a / b}')
    row="| $mode | ($L,$D,$H) | $(printf '%.0f' "$tm") | $(printf '%.0f' "$em") | ${ratio}x |"
    if [ -n "$BASE" ]; then
      bm=$(printf '%s\n' "${b_all[@]}" | median)
      bratio=$(awk -v a="$em" -v b="$bm" 'BEGIN {printf "%.2f", a / b}')
      # Base and emerge run back to back in each round, so the per-round
      # ratio cancels most of the machine's drift between rounds.
      rr=$(for i in "${!e_all[@]}"; do awk -v a="${e_all[$i]}" -v b="${b_all[$i]}" 'BEGIN {print a / b}'; done | median)
      row+=" $(printf '%.0f' "$bm") | ${bratio}x | $(printf '%.2f' "$rr")x |"
    fi
    table+="
$row"
  done
done
echo "$table"
if [ -n "${OUT:-}" ]; then echo "$table" >"$OUT"; fi
