#!/usr/bin/env bash
# Builds the CUDA emerge binary on a machine without a GPU or a CUDA toolkit,
# strips it, and leaves it at dist/emerge-cuda and dist/emerge-cuda.xz
# (ignored by git) for scripts/gpu-check.sh. Not run by CI.
#
#   nice -n 15 scripts/cuda-build.sh          # 24 min on 2 loaded cores with the non-CUDA crates prebuilt (BENCHMARKS.md)
#   scripts/cuda-build.sh --toolkit-only      # only find or install nvcc, print the settings
#
# What it does:
# 1. Finds nvcc (NVCC, PATH, CUDA_HOME). When there is none, installs the CUDA
#    $CUDA_VER compiler, headers and the libraries the binary links with from
#    PyPI (pip --target, no root) into $CUDA_CACHE/$CUDA_VER, and makes that
#    tree look like a toolkit: `targets/x86_64-linux` and `lib64` links (where
#    nvcc.profile and cudarc look), unversioned `lib*.so` links for the linker,
#    and `lib/stubs/libcuda.so`, a stub of the driver library (soname
#    libcuda.so.1; every function returns CUDA_ERROR_STUB_LIBRARY) generated
#    from cudarc's bindings, as the toolkit's own stubs/libcuda.so is not on
#    PyPI. The stub is for linking only: at run time the driver's libcuda.so.1
#    is used.
# 2. cargo build --release -p harness --features cuda, with CUDA_COMPUTE_CAP
#    (default 90: the H200; one architecture keeps the kernel build short)
#    and CUDARC_CUDA_VERSION taken from nvcc.
# 3. Copies target/.../release/emerge to dist/emerge-cuda, strips it,
#    prints its size and the shared libraries it needs, and compresses it to
#    dist/emerge-cuda.xz (what the device machine gets: the stripped binary
#    is over 100 MiB).
#
# candle 0.11.1 links cudarc with `dynamic-linking`, so the binary needs
# libcuda.so.1 (the driver), libcublas.so.13, libcublasLt.so.13,
# libcurand.so.10, libnvrtc.so.13 and libcudart.so.13 when it starts: on a
# machine without them the dynamic loader refuses to start it (one line,
# exit status 127) before emerge runs. scripts/gpu-check.sh points
# LD_LIBRARY_PATH at PyTorch's nvidia-* wheels for the CUDA 13 libraries.
#
# Environment:
#   CUDA_VER          toolkit from PyPI when no nvcc is found (default 13.0:
#                     the GPU machine's driver 580 is CUDA 13.0, and it cannot
#                     JIT the PTX of a newer nvcc)
#   CUDA_CACHE        where that toolkit goes (default ~/.cache/emerge/cuda)
#   CUDA_COMPUTE_CAP  GPU architecture to compile for (default 90)
#   CARGO_TARGET_DIR  cargo's target folder (default target/cuda: the cuda
#                     feature rebuilds candle, so it gets its own)
#   STRIP             strip-all (default) or debug: `strip --strip-debug`
#                     keeps the symbol table (function names in backtraces)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CUDA_VER=${CUDA_VER:-13.0}
CUDA_CACHE=${CUDA_CACHE:-$HOME/.cache/emerge/cuda}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/cuda}
STRIP=${STRIP:-strip-all}
PY=${PYTHON:-python3}

# Pinned wheels per CUDA version: compiler (nvcc, cicc, headers), and the
# libraries candle links (cudart, cublas, cublasLt, curand, nvrtc).
wheels_for() {
  case "$1" in
    13.0) echo "nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88
      nvidia-curand==10.4.0.35 nvidia-cublas==13.0.2.14" ;;
    *) echo "cuda-build.sh: no wheel list for CUDA_VER=$1 (add one to wheels_for)" >&2; exit 2 ;;
  esac
}

find_nvcc() {
  if [ -n "${NVCC:-}" ] && [ -x "$NVCC" ]; then echo "$NVCC"; return; fi
  if command -v nvcc >/dev/null; then command -v nvcc; return; fi
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then echo "$CUDA_HOME/bin/nvcc"; return; fi
  return 1
}

# Stub libcuda.so from cudarc's driver bindings (the symbols the binary can
# reference). Each returns CUDA_ERROR_STUB_LIBRARY (34), like NVIDIA's stub.
make_libcuda_stub() { # cuda_root
  local root=$1 sys
  sys=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs 2>/dev/null | tail -1)
  [ -n "$sys" ] || { echo "cuda-build.sh: cudarc sources not found (cargo fetch failed?)" >&2; exit 1; }
  mkdir -p "$root/lib/stubs"
  grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$sys" | awk '{print $4}' | sort -u |
    awk '{printf "int %s(void) { return 34; }\n", $1}' >"$root/lib/stubs/libcuda_stub.c"
  cc -shared -fPIC -O0 -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" \
    "$root/lib/stubs/libcuda_stub.c"
}

install_toolkit() { # -> prints the toolkit root
  local dir="$CUDA_CACHE/$CUDA_VER" root
  root="$dir/nvidia/cu${CUDA_VER%%.*}"
  if [ ! -x "$root/bin/nvcc" ] || [ ! -f "$dir/.complete" ]; then
    echo "== installing the CUDA $CUDA_VER toolkit from PyPI into $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2046
    # Wheels already downloaded to $CUDA_CACHE/wheels (pip download) are used first.
    "$PY" -m pip install --quiet --no-deps --no-compile --target "$dir" \
      --find-links "$CUDA_CACHE/wheels" $(wheels_for "$CUDA_VER") >&2
    mkdir -p "$root/targets"
    ln -sfn .. "$root/targets/x86_64-linux"
    ln -sfn lib "$root/lib64"
    for so in "$root"/lib/lib*.so.*; do
      case "$so" in *.alt.so.* | *builtins*) continue ;; esac
      base=${so##*/}
      ln -sfn "$base" "$root/lib/${base%%.so.*}.so"
    done
    (cd "$ROOT" && cargo fetch --locked -q)
    make_libcuda_stub "$root"
    touch "$dir/.complete"
  fi
  echo "$root"
}

if NVCC_PATH=$(find_nvcc); then
  echo "== nvcc: $NVCC_PATH" >&2
else
  CUDA_ROOT=$(install_toolkit)
  export CUDA_ROOT CUDA_PATH=$CUDA_ROOT CUDA_HOME=$CUDA_ROOT
  export PATH="$CUDA_ROOT/bin:$PATH"
  # candle-kernels links libcudart with no search path of its own.
  export LIBRARY_PATH="$CUDA_ROOT/lib:$CUDA_ROOT/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
  NVCC_PATH="$CUDA_ROOT/bin/nvcc"
fi
NVCC_VERSION=$("$NVCC_PATH" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\),.*/\1.\2/p')
IFS=. read -r major minor <<<"$NVCC_VERSION"
export CUDARC_CUDA_VERSION="${major}0${minor}0"
echo "== nvcc $NVCC_VERSION (CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION), sm_$CUDA_COMPUTE_CAP, $(cc --version | head -1)" >&2
if [ "${1:-}" = --toolkit-only ]; then
  echo "== toolkit ready: PATH=$(dirname "$NVCC_PATH"):\$PATH CUDA_ROOT=${CUDA_ROOT:-} CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP"
  exit 0
fi
echo "== cargo build --release -p harness --features cuda (target $CARGO_TARGET_DIR)" >&2

start=$(date +%s)
(cd "$ROOT" && cargo build --release --locked -p harness --features cuda)
secs=$(($(date +%s) - start))

bin="$CARGO_TARGET_DIR/release/emerge"
mkdir -p "$ROOT/dist"
out="$ROOT/dist/emerge-cuda"
cp "$bin" "$out"
case "$STRIP" in
  debug) strip --strip-debug "$out" ;;
  *) strip "$out" ;;
esac
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "== built in ${secs}s: $bin $(mib "$(size "$bin")") -> $out $(mib "$(size "$out")") ($STRIP)"
echo "== needs: $(readelf -d "$out" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
# Stripped, it is still over 100 MiB (a third of it candle's MoE/GGUF kernels
# in .nv_fatbin), more than the device machine takes per call (64 MiB with
# the working tree): carry the xz copy; gpu-check.sh unpacks it.
xz -T2 -6 -k -f "$out"
echo "== $out.xz $(mib "$(size "$out.xz")") (carry this one)"
# The PyTorch peer that gpu-check.sh runs beside emerge: copied, not committed,
# so the one in scripts/peers stays the only version (carry dist/peers too).
PEERS_SRC=${PEERS_SRC:-$ROOT/scripts/peers}
if [ -f "$PEERS_SRC/torch_gpt_bench.py" ]; then
  mkdir -p "$ROOT/dist/peers" && cp "$PEERS_SRC/torch_gpt_bench.py" "$ROOT/dist/peers/"
  echo "== dist/peers/torch_gpt_bench.py (from $PEERS_SRC; carry dist/peers)"
else
  echo "== no $PEERS_SRC/torch_gpt_bench.py: gpu-check.sh will skip the PyTorch peer (set PEERS_SRC)" >&2
fi
