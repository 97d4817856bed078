#!/usr/bin/env python3
"""Training FLOP rate over the ladder's shapes, and each shape against its
neighbours on the 32 grid (BENCHMARKS.md, "Every shape").

For every shape (L,d,H), `emerge bench train` (context 64, batch 32, vocab 32)
runs REPS times, alternating with BASE when given; the table gives the median
tokens/s and GFLOP/s = tokens/s x (6 N + 6 L T d), with N = 12 L d^2 the
non-embedding weights and T the context (the issue's convention). A width off
the multiples of 32 is compared with the rate interpolated, in log width,
between the nearest multiples of 32 above and below it at the same depth;
widths below 32 instead with the next larger width of the same depth in
tokens/s (a smaller model should never train fewer tokens per second). With
ONE_THREAD=1 the shapes of width <= 32 are also run with one thread.

    EMERGE=target/release/emerge BASE=/path/to/old/emerge REPS=3 scripts/bench-shapes.py
    FROM=run.log scripts/bench-shapes.py      # the table again from a run's stderr lines
"""
import math
import os
import statistics
import subprocess
import sys

SHAPES = os.environ.get(
    "SHAPES",
    # presets' ladders, refine's candidates seen in sweeps, their neighbours
    # on the 32 grid, and the six benchmark sizes
    "1,8,2 1,16,2 1,24,2 1,32,2 2,32,2 2,32,4 2,48,4 2,64,2 2,64,4 3,32,2 3,60,3 3,64,4 3,80,4 "
    "3,96,6 4,96,6 4,112,7 4,128,4 4,128,8 6,192,6 8,256,8 8,384,8",
).split()
EMERGE = os.environ.get("EMERGE", "target/release/emerge")
BASE = os.environ.get("BASE", "")
REPS = int(os.environ.get("REPS", "1"))
THREADS = os.environ.get("THREADS", "2")
ONE_THREAD = os.environ.get("ONE_THREAD", "") == "1"
T = 64


def bench(binary, l, d, h, threads):
    # enough steps that a run lasts about a second or more
    steps = "200" if d <= 32 else ("40" if d <= 128 else ("10" if d <= 256 else "6"))
    out = subprocess.run(
        [binary, "bench", "train", "--vocab", "32", "--layers", str(l), "--d-model", str(d),
         "--heads", str(h), "--context", str(T), "--batch", "32", "--steps", steps,
         "--warmup-steps", "3", "--threads", str(threads)],
        check=True, capture_output=True, text=True).stdout
    return float(next(x.split("=")[1] for x in out.split() if x.startswith("tokens_per_sec=")))


def gflops(l, d, tok):
    return tok * (6 * 12 * l * d * d + 6 * l * T * d) / 1e9


shapes = [tuple(int(v) for v in s.split(",")) for s in SHAPES]
rows = {}
if os.environ.get("FROM"):
    # Rebuild the table from an earlier run's progress lines, "  (l,d,h) (new, base, one)".
    import ast
    for line in open(os.environ["FROM"]):
        if line.startswith("  (") and ") (" in line:
            key, val = line.strip().split(" ", 1)
            rows[tuple(int(v) for v in key.strip("()").split(","))] = ast.literal_eval(val)
    shapes = []
    BASE = BASE or ("given" if any(v[1] for v in rows.values()) else "")
    ONE_THREAD = ONE_THREAD or any(v[2] for v in rows.values())
for (l, d, h) in shapes:
    new, base, one = [], [], []
    for _ in range(REPS):
        new.append(bench(EMERGE, l, d, h, THREADS))
        if BASE:
            base.append(bench(BASE, l, d, h, THREADS))
        if ONE_THREAD and d <= 32:
            one.append(bench(EMERGE, l, d, h, 1))
    rows[(l, d, h)] = (statistics.median(new), statistics.median(base) if base else None,
                       statistics.median(one) if one else None)
    print(f"  ({l},{d},{h}) {rows[(l, d, h)]}", file=sys.stderr)


def rate(l, d, which=0):
    """Best GFLOP/s among the measured shapes of depth l and width d (which: 0 new, 1 base)."""
    r = [gflops(l, d, v[which]) for (ll, dd, _), v in rows.items() if ll == l and dd == d]
    return max(r) if r else None


def against_neighbours(l, d, tok, which=0):
    if d % 32 == 0:
        return "on the grid"
    if d < 32:
        bigger = sorted((dd, v[which]) for (ll, dd, _), v in rows.items() if ll == l and dd > d)
        if not bigger:
            return "—"
        dd, t = bigger[0]
        return f"{tok / t:.2f}x the tokens/s of d={dd}"
    lo, hi = d // 32 * 32, (d // 32 + 1) * 32
    rlo, rhi = rate(l, lo, which), rate(l, hi, which)
    if rlo is None or rhi is None:
        return "neighbours not measured"
    w = (math.log(d) - math.log(lo)) / (math.log(hi) - math.log(lo))
    interp = math.exp((1 - w) * math.log(rlo) + w * math.log(rhi))
    return f"{gflops(l, d, tok) / interp:.0%} of {interp:.0f} (d={lo}, {hi})"


head = "| (L,d,H) | head size | tokens/s | GFLOP/s | against its neighbours |"
rule = "|---|---|---|---|---|"
if BASE:
    head += " base tokens/s | base GFLOP/s | base against its neighbours | new/base |"
    rule += "---|---|---|---|"
if ONE_THREAD:
    head += " 1 thread tokens/s |"
    rule += "---|"
print(f"{EMERGE} vs {BASE or '-'}, {THREADS} threads, median of {REPS}, context {T}, batch 32, vocab 32")
print()
print(head)
print(rule)
for (l, d, h), (tok, base, one) in rows.items():
    line = f"| ({l},{d},{h}) | {d // h} | {tok:,.0f} | {gflops(l, d, tok):.1f} | {against_neighbours(l, d, tok)} |"
    if BASE:
        line += (f" {base:,.0f} | {gflops(l, d, base):.1f} | {against_neighbours(l, d, base, 1)} |"
                 f" {tok / base:.2f}x |")
    if ONE_THREAD:
        line += f" {one:,.0f} |" if one else " |"
    print(line)
