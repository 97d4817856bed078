#!/usr/bin/env python3
"""Runs the PyTorch peer torch_gpt_bench.py over a list of shapes in one
process, so a GPU run pays for importing torch and creating the CUDA context
once, not once per shape. Used by scripts/gpu-check.sh.

Each line of SHAPES is `mode L d H vocab context batch steps warmup` (what
gpu-check.sh also gives `emerge bench`). For each shape it calls the peer's
main() with the same flags as scripts/bench-vs-torch.sh plus --device, and
prints one line per shape as soon as it is done:

    RESULT <mode> <L> <d> <H> <vocab> <context> <batch> <tokens/s or FAIL>

with the peer's own output before it. A shape that fails (out of memory, ...)
prints FAIL and the others still run.

    python3 torch_ladder.py SHAPES --device cuda [--threads 2]
"""
import argparse
import contextlib
import io
import os
import sys
import traceback

# The peer itself is not copied into the repository: scripts/cuda-build.sh
# copies scripts/peers/torch_gpt_bench.py to dist/peers/ (carried with the
# binary); PEERS names another folder.
_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.environ.get("PEERS") or os.path.join(_root, "dist", "peers"))
import torch  # noqa: E402
import torch_gpt_bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    # The peer sets one inter-op thread at every start; torch allows that
    # call once per process, so it is made here and then skipped.
    torch.set_num_interop_threads(1)
    torch.set_num_interop_threads = lambda n: None
    with open(args.shapes) as f:
        shapes = [line.split() for line in f if line.strip() and not line.startswith("#")]
    for mode, L, d, H, vocab, ctx, batch, steps, warmup in shapes:
        argv = ["torch_gpt_bench.py", "--mode", mode, "--vocab", vocab, "--layers", L,
                "--d-model", d, "--heads", H, "--context", ctx, "--batch", batch,
                "--steps", steps, "--warmup-steps", warmup, "--threads", str(args.threads),
                "--device", args.device]
        key = "gen_tokens_per_sec=" if mode == "generate" else "tokens_per_sec="
        out = io.StringIO()
        rate = "FAIL"
        try:
            sys.argv = argv
            with contextlib.redirect_stdout(out):
                torch_gpt_bench.main()
            for line in out.getvalue().splitlines():
                if line.startswith(key):
                    rate = line[len(key):]
        except BaseException:  # noqa: BLE001 (SystemExit from the peer's checks too)
            out.write(traceback.format_exc())
        print(out.getvalue(), end="")
        print("RESULT", mode, L, d, H, vocab, ctx, batch, rate, flush=True)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
