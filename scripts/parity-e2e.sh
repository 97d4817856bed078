#!/usr/bin/env bash
# End-to-end parity (VALIDATION.md): the `quick` preset's ladder trained by
# PyTorch on emerge's own batches, scored by emerge, against emerge's own run.
# For every seed: `emerge sweep` runs the preset (run `emerge-sN`); every job
# is exported (initial weights and all its batches) and replayed in PyTorch;
# a copy of the run (`torch-sN`) gets PyTorch's final weights in each job's
# checkpoint and is re-scored with `emerge eval`; `emerge compare` then puts
# the two side by side per size (paired tests on the same items), and the
# table below says whether PyTorch's exact match falls inside emerge's 95 %
# interval. As a yardstick it also runs emerge itself with 1 thread instead
# of THREADS (`emerge1t-sN`): the same code with another summation order,
# whose trajectories part the way PyTorch's do.
#
#   scripts/parity-e2e.sh              # seed 0
#   SEEDS="0 1 2" scripts/parity-e2e.sh
#
# Environment: SEEDS, OUT (default /tmp/parity-e2e), THREADS (2), TORCH_THREADS, EMERGE,
# VENV (the peer venv). Finished pieces in OUT are kept (rerun to continue).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SEEDS=${SEEDS:-0}
OUT=${OUT:-/tmp/parity-e2e}
THREADS=${THREADS:-2}
TORCH_THREADS=${TORCH_THREADS:-$THREADS}   # 1 on a busy machine (see parity-spread.sh)
VENV=${VENV:-$HOME/.cache/emerge-peers/venv}
PY="$VENV/bin/python"
"$PY" -c 'import torch' 2>/dev/null || { echo "parity-e2e: no torch in $VENV (scripts/peers/install_torch_cpu.sh)" >&2; exit 2; }
if [ -z "${EMERGE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p harness)
  EMERGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/emerge"
fi
mkdir -p "$OUT"
for s in $SEEDS; do
  cfg="$OUT/quick-s$s.toml"
  sed "s/^seeds = .*/seeds = [$s]/" "$ROOT/harness/presets/quick.toml" >"$cfg"
  em="$OUT/emerge-s$s" to="$OUT/torch-s$s"
  "$EMERGE" sweep --config "$cfg" --runs-dir "$OUT" --name "emerge-s$s" --threads "$THREADS" >"$OUT/emerge-s$s.log" 2>&1
  "$EMERGE" sweep --config "$cfg" --runs-dir "$OUT" --name "emerge1t-s$s" --threads 1 >"$OUT/emerge1t-s$s.log" 2>&1
  if [ ! -e "$to/scores.csv.torch-done" ]; then
    rm -rf "$to"
    cp -r "$em" "$to"
    for job in "$em"/jobs/*/; do
      id=$(basename "$job")                      # L2-D48-H4-s0
      shape=$(echo "$id" | sed -E 's/^L([0-9]+)-D([0-9]+)-H([0-9]+)-s[0-9]+$/\1,\2,\3/')
      x="$OUT/export/$id"
      if [ ! -s "$x/final_torch.safetensors" ]; then
        "$EMERGE" export --config "$cfg" --shape "$shape" --seed "$s" --out "$x" >/dev/null
        "$PY" "$ROOT/scripts/torch_replay.py" train "$x" --threads "$TORCH_THREADS" | sed "s/^/$id: /" >&2
      fi
      ck="$to/jobs/$id/checkpoint"
      cp "$x/final_torch.safetensors" "$ck/model.safetensors"
      # The checkpoint records each file's length and CRC-32 (a damaged file
      # is refused); record the substituted weights' own.
      python3 - "$ck" <<'PY'
import json, os, sys, zlib
ck = sys.argv[1]
meta = json.load(open(os.path.join(ck, "trainer.json")))
data = open(os.path.join(ck, "model.safetensors"), "rb").read()
meta["files"]["model.safetensors"] = {"bytes": len(data), "crc32": zlib.crc32(data)}
json.dump(meta, open(os.path.join(ck, "trainer.json"), "w"), indent=2)
PY
    done
    "$EMERGE" eval --run "$to" --threads "$THREADS" >"$OUT/torch-s$s.eval.log" 2>&1
    touch "$to/scores.csv.torch-done"
  fi
  "$EMERGE" compare "$em" "$to" --out "$OUT/compare-s$s" >"$OUT/compare-s$s.log" 2>&1
done
# Exact match at the last step: PyTorch's value, and emerge's with 1 thread,
# against emerge's 95 % interval.
"$PY" - "$OUT" $SEEDS <<'EOF'
import csv, os, sys
out, seeds = sys.argv[1], sys.argv[2:]
def final(path):
    rows = [r for r in csv.DictReader(open(path)) if r["metric"] == "exact_match"]
    last = {}
    for r in rows:
        k = (r["model_id"], r["task"], r["mode"], r["shots"])
        if k not in last or int(r["step"]) > int(last[k]["step"]):
            last[k] = r
    return last
print("| seed | model | mode | emerge exact match [95 % interval] | torch-trained | inside | emerge, 1 thread | inside |")
print("|---|---|---|---|---|---|---|---|")
inside = inside1 = total = 0
for s in seeds:
    e, t = final(f"{out}/emerge-s{s}/scores.csv"), final(f"{out}/torch-s{s}/scores.csv")
    e1 = final(f"{out}/emerge1t-s{s}/scores.csv")
    params = {r["model_id"]: int(r["params"]) for r in csv.DictReader(open(f"{out}/emerge-s{s}/models.csv"))}
    for k in sorted(e, key=lambda k: (params[k[0]], k[2])):
        a, b, c = e[k], t[k], e1[k]
        ok = float(a["ci_lo"]) <= float(b["value"]) <= float(a["ci_hi"])
        ok1 = float(a["ci_lo"]) <= float(c["value"]) <= float(a["ci_hi"])
        inside += ok
        inside1 += ok1
        total += 1
        print(f"| {s} | {k[0]} | {k[2]} | {float(a['value']):.3f} [{float(a['ci_lo']):.3f}, {float(a['ci_hi']):.3f}] "
              f"| {float(b['value']):.3f} | {'yes' if ok else '**no**'} | {float(c['value']):.3f} | {'yes' if ok1 else '**no**'} |")
print(f"\ninside emerge's 95 % interval: {inside} of {total} torch-trained scores, {inside1} of {total} of emerge's own with 1 thread")
EOF
