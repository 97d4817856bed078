#!/usr/bin/env bash
# The GPU check: one script for a device machine (an H200 with driver 580,
# python3 with torch for CUDA 13 and its nvidia-* wheels, no Rust, no
# network), ending within 8 minutes. Build the binary first, on any Linux
# machine, with scripts/cuda-build.sh: it leaves dist/emerge-cuda and its xz
# copy dist/emerge-cuda.xz (ignored by git, so carried; the stripped binary is
# over 100 MiB, the xz copy about 18 MiB). Without dist/emerge-cuda this
# script unpacks the xz copy (python's lzma) into a temporary folder.
#
#   scripts/gpu-check.sh OUTDIR
#
# On the project's device machine (the `run` tool; it runs in the repository
# root of a copy of the working tree, and what lands under $OUT comes back):
#
#   run(command="bash scripts/gpu-check.sh $OUT/gpu-check",
#       carry=["dist/emerge-cuda.xz", "dist/peers"], timeout_s=500)
#
# Steps, each under `timeout`, the whole under DEADLINE seconds (default 450;
# a step that would start past its share is skipped and says so):
#   1. setup: nvidia-smi, torch's CUDA view, LD_LIBRARY_PATH from the nvidia-*
#      wheels in python3's site-packages, then a CUDA toolkit's lib64 (for
#      what the wheels lack: recent torch wheels have no libcurand), then the
#      driver's folder; ldd; and a 2-step `emerge bench` that opens the device;
#   2. `emerge bench train|generate --device cuda:0` (candle's ops and
#      autograd) over BENCHMARKS.md's CPU table (vocab 32, context 64,
#      batch 32) and the `gpu` preset's ladder (vocab 98, context 256,
#      batch 64);
#   3. the PyTorch peer (dist/peers/torch_gpt_bench.py, copied there from
#      scripts/peers/ by cuda-build.sh) on the same shapes with --device
#      cuda, all in one python process (scripts/peers/torch_ladder.py);
#   4. a short 3-size `gpu`-preset sweep end to end (train, score, fit, plot):
#      harness/presets/gpu.toml with a smaller ladder and budget;
#   5. `emerge sweep --preset gpu --plan-only` on the GPU: the preset's plan
#      timed on the device (the GPU re-plan).
# Then OUTDIR/table.md (emerge vs torch tok/s and the ratio), results.tsv,
# the sweep's CSVs and PNGs (no checkpoints), and one log per step.
#
# Environment (to test it elsewhere, e.g. on a CPU with a CPU build):
#   EMERGE    emerge binary (default dist/emerge-cuda, else dist/emerge-cuda.xz unpacked)
#   DEVICE    emerge's device (default cuda:0); TORCH_DEVICE the peer's (cuda)
#   PYTHON    python with torch (default python3)
#   DEADLINE  seconds for the whole script (default 450)
#   QUICK=1   a few small shapes and very short runs (for a CPU test)
set -uo pipefail

OUTDIR=${1:?usage: scripts/gpu-check.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEVICE=${DEVICE:-cuda:0}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}
PY=${PYTHON:-python3}
DEADLINE=${DEADLINE:-450}
QUICK=${QUICK:-0}
START=$(date +%s)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d)
LOG="$OUTDIR/gpu-check.log"
if [ -z "${EMERGE:-}" ]; then
  EMERGE=$ROOT/dist/emerge-cuda
  if [ ! -x "$EMERGE" ] && [ -f "$EMERGE.xz" ]; then
    "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$EMERGE.xz" "$WORK/emerge-cuda" && chmod +x "$WORK/emerge-cuda" && EMERGE=$WORK/emerge-cuda
  fi
fi

say() { echo "[$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
elapsed() { echo $(($(date +%s) - START)); }
# Seconds a step may take: its cap, less if the script's deadline is nearer.
budget() { # cap reserve
  local left=$((DEADLINE - $(elapsed) - ${2:-0}))
  ((left < $1)) && echo "$left" || echo "$1"
}

say "gpu-check: $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n), emerge=$EMERGE device=$DEVICE torch-device=$TORCH_DEVICE deadline=${DEADLINE}s"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# ---- 1. setup ---------------------------------------------------------------
{
  timeout 20 nvidia-smi || echo "nvidia-smi: not available"
  timeout 60 "$PY" -c 'import torch, sys; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, "| available", torch.cuda.is_available(), "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")' || echo "torch: not importable with $PY"
} >"$OUTDIR/setup.log" 2>&1
# The CUDA 13 libraries emerge links (cudart, cublas, cublasLt, curand,
# nvrtc) from the nvidia-* wheels next to torch, then the driver's libcuda.
nvlibs=$(timeout 60 "$PY" - <<'EOF' 2>/dev/null
import glob, os, site
dirs = []
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for lib in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "*", "lib"))):
        if glob.glob(os.path.join(lib, "*.so*")) and lib not in dirs:
            dirs.append(lib)
print(":".join(dirs))
EOF
)
# A CUDA toolkit's libraries (the machine has nvcc 13.0), after the wheels'.
toolkit=""
for d in "$(dirname "$(command -v nvcc 2>/dev/null || echo /nonexistent/bin/nvcc)")/../lib64" \
  ${CUDA_HOME:+"$CUDA_HOME/lib64"} /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 \
  /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libcurand.so.10" ] && toolkit="${toolkit:+$toolkit:}$(cd "$d" && pwd)"
done
driver=$({ command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | awk '/libcuda\.so\.1 / {print $NF; exit}')
driver=${driver:+$(dirname "$driver")}
for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
  [ -z "$driver" ] && [ -e "$d/libcuda.so.1" ] && driver=$d
done
export LD_LIBRARY_PATH="${nvlibs}${toolkit:+:$toolkit}${driver:+:$driver}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "== ldd $EMERGE"
  ldd "$EMERGE" 2>&1 | grep -E 'cuda|cublas|curand|nvrtc|not found' || true
} >>"$OUTDIR/setup.log" 2>&1
cat "$OUTDIR/setup.log" >>"$LOG"
if [ ! -x "$EMERGE" ]; then
  say "FATAL: no emerge binary at $EMERGE (build it with scripts/cuda-build.sh and carry dist/emerge-cuda.xz)"
  exit 1
fi
missing=$(ldd "$EMERGE" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
if [ -n "$missing" ]; then
  say "FATAL: $EMERGE cannot start: not found: $missing(LD_LIBRARY_PATH above; are torch's nvidia-* wheels and the driver installed?)"
  exit 1
fi
t=$(budget 60)
say "open the device: emerge bench train --device $DEVICE (1 layer, 2 steps; timeout ${t}s)"
timeout "$t" "$EMERGE" bench train --device "$DEVICE" --layers 1 --d-model 32 --heads 2 \
  --steps 2 --warmup-steps 1 >"$OUTDIR/open.log" 2>&1
rc=$?
cat "$OUTDIR/open.log" >>"$LOG"
say "open: exit status $rc"

# ---- the shapes ----------------------------------------------------------
# mode L d H vocab context batch steps warmup
SHAPES="$OUTDIR/shapes.txt"
{
  echo "# BENCHMARKS.md's CPU table: vocab 32, context 64, batch 32"
  cpu_ladder="1,32,2 2,64,2 4,128,4 6,192,6 8,256,8 8,384,8"
  # The gpu preset's geometric ladder (1e5..1e8 non-embedding parameters,
  # aspect 64, head size 64), as `emerge sweep --preset gpu --plan-only` lists it.
  gpu_ladder="2,64,1 1,128,2 2,128,2 2,192,3 5,192,3 4,320,5 6,384,6 7,512,8 10,640,10 12,832,13"
  if [ "$QUICK" = 1 ]; then cpu_ladder="1,32,2 2,64,2"; gpu_ladder="2,64,1"; fi
  for mode in train generate; do
    for s in $cpu_ladder; do
      IFS=, read -r L D H <<<"$s"
      if [ "$QUICK" = 1 ]; then echo "$mode $L $D $H 32 64 32 3 1"
      elif [ "$mode" = train ]; then echo "$mode $L $D $H 32 64 32 20 3"
      else echo "$mode $L $D $H 32 64 32 5 1"; fi
    done
  done
  echo "# the gpu preset's ladder: vocab 98, context 256, batch 64"
  for mode in train generate; do
    for s in $gpu_ladder; do
      IFS=, read -r L D H <<<"$s"
      if [ "$QUICK" = 1 ]; then echo "$mode $L $D $H 98 256 64 2 1"
      elif [ "$mode" = train ] && [ "$D" -ge 512 ]; then echo "$mode $L $D $H 98 256 64 5 2"
      elif [ "$mode" = train ]; then echo "$mode $L $D $H 98 256 64 10 3"
      else echo "$mode $L $D $H 98 256 64 3 1"; fi
    done
  done
} >"$SHAPES"

RESULTS="$OUTDIR/results.tsv"
echo -e "program\tmode\tL\td\tH\tvocab\tcontext\tbatch\ttokens_per_sec" >"$RESULTS"

# ---- 2. emerge bench ----------------------------------------------------------
phase_end=$(($(elapsed) + $(budget 140 250)))
say "emerge bench on $DEVICE: $(grep -vc '^#' "$SHAPES") runs, until ${phase_end}s"
grep -v '^#' "$SHAPES" | while read -r mode L D H V C B S W; do
  left=$((phase_end - $(elapsed)))
  if ((left < 5)); then
    say "  emerge $mode ($L,$D,$H) V=$V T=$C B=$B: SKIPPED (phase out of time)"
    echo -e "emerge\t$mode\t$L\t$D\t$H\t$V\t$C\t$B\tSKIP" >>"$RESULTS"
    continue
  fi
  t=$((left < 40 ? left : 40))
  key=tokens_per_sec
  [ "$mode" = generate ] && key=gen_tokens_per_sec
  log="$OUTDIR/emerge-$mode-$L-$D-$H-$C.log"
  timeout "$t" "$EMERGE" bench "$mode" --device "$DEVICE" --vocab "$V" --layers "$L" \
    --d-model "$D" --heads "$H" --context "$C" --batch "$B" --steps "$S" --warmup-steps "$W" \
    </dev/null >"$log" 2>&1
  rc=$?
  r=$(sed -n "s/^$key=//p" "$log" | tail -1)
  [ -n "$r" ] || r="FAIL(rc=$rc)"
  say "  emerge $mode ($L,$D,$H) V=$V T=$C B=$B: $r"
  echo -e "emerge\t$mode\t$L\t$D\t$H\t$V\t$C\t$B\t$r" >>"$RESULTS"
done

# ---- 3. the PyTorch peer ---------------------------------------------------------
t=$(budget 110 140)
say "torch peer on $TORCH_DEVICE: one process, timeout ${t}s"
if [ ! -f "${PEERS:-$ROOT/dist/peers}/torch_gpt_bench.py" ]; then
  say "no ${PEERS:-$ROOT/dist/peers}/torch_gpt_bench.py (scripts/cuda-build.sh copies it; carry dist/peers): PyTorch peer skipped"
elif ((t > 10)); then
  timeout "$t" "$PY" "$ROOT/scripts/peers/torch_ladder.py" "$SHAPES" --device "$TORCH_DEVICE" \
    </dev/null >"$OUTDIR/torch.log" 2>&1
  say "torch: exit status $?"
fi
grep '^RESULT' "$OUTDIR/torch.log" 2>/dev/null | while read -r _ mode L D H V C B r; do
  say "  torch $mode ($L,$D,$H) V=$V T=$C B=$B: $r"
  echo -e "torch\t$mode\t$L\t$D\t$H\t$V\t$C\t$B\t$r" >>"$RESULTS"
done

# ---- the table ---------------------------------------------------------------
write_table() {
  "$PY" - "$RESULTS" "$OUTDIR/table.md" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
key = lambda r: (r["mode"], r["L"], r["d"], r["H"], r["vocab"], r["context"], r["batch"])
by = {}
for r in rows:
    by.setdefault(key(r), {})[r["program"]] = r["tokens_per_sec"]
def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None
out = ["| mode | (L,d,H) | vocab | context | batch | torch tok/s | emerge tok/s | emerge/torch |",
       "|---|---|---|---|---|---|---|---|"]
for k, v in by.items():
    t, e = num(v.get("torch")), num(v.get("emerge"))
    ratio = f"{e / t:.2f}x" if t and e else "-"
    fmt = lambda x, raw: f"{x:,.0f}" if x is not None else (raw or "-")
    out.append(f"| {k[0]} | ({k[1]},{k[2]},{k[3]}) | {k[4]} | {k[5]} | {k[6]} | "
               f"{fmt(t, v.get('torch'))} | {fmt(e, v.get('emerge'))} | {ratio} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
}
write_table >>"$LOG" 2>&1

# ---- 4. a 3-size gpu-preset sweep, end to end ----------------------------------
# The gpu preset with 3 sizes up to 1e7 parameters, 1M training tokens per
# model (61 steps of 64 x 256), 2 checkpoints, 100 items per task. Fewer than 4
# sizes: fits.csv records too_few_points (the fit step still runs).
sed -e 's/^name = "gpu"/name = "gpu-check"/' \
  -e 's/^max_params = 1e8/max_params = 1e7/' \
  -e 's/^sizes = 10/sizes = 3/' \
  -e 's/^tokens = 200_000_000/tokens = 1_000_000/' \
  -e 's/^warmup_steps = 500/warmup_steps = 10/' \
  -e 's/^checkpoint_every = 1000/checkpoint_every = 20/' \
  -e 's/^log_every = 50/log_every = 10/' \
  -e 's/^items = 300/items = 100/' \
  -e 's/^checkpoints = 5/checkpoints = 2/' \
  "$ROOT/harness/presets/gpu.toml" >"$OUTDIR/gpu-check.toml"
if [ "$QUICK" = 1 ]; then
  sed -i -e 's/^max_params = 1e7/max_params = 1e6/' -e 's/^tokens = 1_000_000/tokens = 65_536/' \
    -e 's/^items = 100/items = 20/' -e 's/^batch = 250/batch = 20/' "$OUTDIR/gpu-check.toml"
fi
t=$(budget 120 50)
say "sweep: 3 sizes of the gpu preset on $DEVICE (timeout ${t}s)"
if ((t > 10)); then
  timeout "$t" "$EMERGE" sweep --config "$OUTDIR/gpu-check.toml" --device "$DEVICE" \
    --runs-dir "$WORK/runs" >"$OUTDIR/sweep.log" 2>&1
  rc=$?
  say "sweep: exit status $rc"
  tail -n 30 "$OUTDIR/sweep.log" >>"$LOG"
  # Everything but the checkpoints (up to ~120 MB for the largest model).
  if [ -d "$WORK/runs/gpu-check" ]; then
    (cd "$WORK/runs" && find gpu-check -type f ! -name '*.safetensors' ! -name 'checkpoint*' \
      -print0 | tar --null -T - -cf - | tar -C "$OUTDIR" -xf -)
    say "sweep files: $(find "$OUTDIR/gpu-check" -type f | wc -l) (plots: $(ls "$OUTDIR/gpu-check/plots" 2>/dev/null | tr '\n' ' '))"
  fi
fi

# ---- 5. the gpu preset's plan, timed on the device ----------------------------------
t=$(budget 60 5)
say "plan: emerge sweep --preset gpu --plan-only --device $DEVICE (timeout ${t}s)"
if ((t > 10)); then
  timeout "$t" "$EMERGE" sweep --preset gpu --plan-only --device "$DEVICE" \
    --runs-dir "$WORK/runs" >"$OUTDIR/plan.log" 2>&1
  say "plan: exit status $?"
  cat "$OUTDIR/plan.log" >>"$LOG"
fi

rm -rf "$WORK"
say "done in $(elapsed)s; table in $OUTDIR/table.md"
cat "$OUTDIR/table.md"
