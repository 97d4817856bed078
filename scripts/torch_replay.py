#!/usr/bin/env python3
"""Replay an `emerge export` in PyTorch, and compare training traces.

    torch_replay.py train DIR [--steps N] [--threads 2] [--dtype float32] [--tag torch]
    torch_replay.py compare DIR A B [--first 100]
    torch_replay.py spread DIR... --tags fast,candle,torch [--window 100]

`train` builds emerge's GPT in PyTorch (learned positional embeddings,
pre-LayerNorm blocks with biases, eps 1e-5, exact-erf GELU, causal attention
scaled by 1/sqrt(head_dim), tied output head without bias), loads DIR's
`init.safetensors`, and trains on DIR's `batches.safetensors` with
torch.optim.AdamW (weight decay only on the parameters `meta.json` marks, the
matrices of linear layers: not biases, norms or the embeddings), emerge's
schedule (linear warmup to `lr`, cosine to `lr * min_lr_ratio` at
`total_steps`), clip_grad_norm_ at `grad_clip` (0: off) and the masked mean
cross-entropy (sum of masked token losses / number of masked tokens). It
writes `trace_TAG.csv` (step, loss, grad_norm before clipping, lr at every
step) and `final_TAG.safetensors` (TAG: `--tag`, default `torch`).

`compare` reads `trace_A.csv`/`trace_B.csv` and `final_A`/`final_B`
`.safetensors` in DIR (A, B: torch, fast, candle) and prints the relative loss
difference per step (max over the first N steps, at the last step, max over
all steps), the gradient-norm difference, and a tensor-by-tensor comparison of
the final weights. Exit status 1 if the loss differs by more than 1e-4
relative in the first N steps or 1% at the last step (the parity targets of
VALIDATION.md).

`spread` is for long runs, where single trajectories decorrelate: DIRs are
exports of the same config with different seeds (initial weights and
batches), each trained by several implementations (TAGS). It prints each
trace's mean loss over its last `--window` steps, per implementation the mean
and spread over seeds of log(final loss), and for every pair of
implementations the paired difference of log(final loss) over seeds with a
t interval and an exact sign-flip test (same seed = same weights and batches).

Needs the peer venv (scripts/peers/install_torch_cpu.sh) for `train`;
`compare` needs numpy only. safetensors files are read and written with
numpy (the format is a JSON header and raw little-endian data).
"""
import argparse
import csv
import json
import math
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "U8": np.uint8, "U32": np.uint32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        if h["dtype"] not in DTYPES:
            sys.exit(f"{path}: tensor {name}: dtype {h['dtype']} not supported")
        arr = np.frombuffer(data[base + a : base + b], dtype=np.dtype(DTYPES[h["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(h["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    names = {np.dtype(v): k for k, v in DTYPES.items()}
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def lr_at(t, step):
    """emerge's TrainConfig::lr_at: the rate of the update from `step` (0-based)."""
    if step < t["warmup_steps"]:
        return t["lr"] * (step + 1) / t["warmup_steps"]
    floor = t["lr"] * t["min_lr_ratio"]
    span = max(t["total_steps"] - t["warmup_steps"], 1)
    progress = min((step - t["warmup_steps"]) / span, 1.0)
    return floor + 0.5 * (t["lr"] - floor) * (1.0 + math.cos(math.pi * progress))


def build_model(torch, cfg):
    nn = torch.nn
    F = torch.nn.functional
    d, h, f = cfg["d_model"], cfg["n_head"], cfg["d_ff"]

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.qkv(x).split(d, dim=2)
            q, k, v = (z.view(B, T, h, d // h).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).contiguous().view(B, T, d))

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(d, f)
            self.proj = nn.Linear(f, d)

        def forward(self, x):
            return self.proj(F.gelu(self.fc(x)))  # exact erf GELU

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d, eps=1e-5)
            self.attn = Attn()
            self.ln_2 = nn.LayerNorm(d, eps=1e-5)
            self.mlp = Mlp()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(cfg["vocab"], d)
            self.wpe = nn.Embedding(cfg["context"], d)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg["n_layer"]))
            self.ln_f = nn.LayerNorm(d, eps=1e-5)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
            for b in self.blocks:
                x = b(x)
            return self.ln_f(x) @ self.wte.weight.t()  # tied head, no bias

    return Gpt()


def train(args):
    import torch

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    with open(os.path.join(args.dir, "meta.json")) as f:
        meta = json.load(f)
    cfg, t = meta["model"], meta["train"]
    init = read_safetensors(os.path.join(args.dir, "init.safetensors"))
    batches = read_safetensors(os.path.join(args.dir, "batches.safetensors"))
    tokens, mask = batches["tokens"], batches["loss_mask"]
    steps = args.steps or meta["steps"]
    if steps > tokens.shape[0]:
        sys.exit(f"--steps {steps}: {args.dir}/batches.safetensors holds {tokens.shape[0]} batches")

    model = build_model(torch, cfg).to(dtype)
    sd = model.state_dict()
    if set(sd) != set(init):
        sys.exit(f"init.safetensors names differ from the model's: {sorted(set(sd) ^ set(init))}")
    model.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in init.items()})
    named = dict(model.named_parameters())
    decay = {p["name"] for p in meta["params"] if p["decay"]}
    if set(named) != {p["name"] for p in meta["params"]}:
        sys.exit("meta.json's parameter list differs from the model's")
    groups = [
        {"params": [named[n] for n in named if n in decay], "weight_decay": t["weight_decay"]},
        {"params": [named[n] for n in named if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"], foreach=False)

    rows = []
    for step in range(steps):
        seq = torch.from_numpy(tokens[step].astype(np.int64))
        m = torch.from_numpy(mask[step].astype(np.float32)).to(dtype)
        x, y = seq[:, :-1], seq[:, 1:]
        lr = lr_at(t, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        per_tok = torch.nn.functional.cross_entropy(
            logits.reshape(-1, cfg["vocab"]), y.reshape(-1), reduction="none"
        )
        loss = (per_tok * m.reshape(-1)).sum() / m.sum()
        loss.backward()
        params = list(model.parameters())
        if t["grad_clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, t["grad_clip"])
        else:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        opt.step()
        rows.append((step + 1, loss.item(), norm.item(), lr))
        if args.progress and (step + 1) % args.progress == 0:
            print(f"step {step + 1} loss {loss.item():.6f}", file=sys.stderr, flush=True)

    with open(os.path.join(args.dir, f"trace_{args.tag}.csv"), "w") as f:
        f.write("step,loss,grad_norm,lr\n")
        for r in rows:
            f.write(f"{r[0]},{r[1]!r},{r[2]!r},{r[3]!r}\n")
    final = {k: v.detach().to(torch.float32).numpy() for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(args.dir, f"final_{args.tag}.safetensors"), final)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.dtype}: {steps} steps, "
          f"loss {rows[0][1]:.6f} -> {rows[-1][1]:.6f}; wrote trace_{args.tag}.csv, final_{args.tag}.safetensors")


def read_trace(path):
    with open(path) as f:
        return [(int(r["step"]), float(r["loss"]), float(r["grad_norm"]), float(r["lr"])) for r in csv.DictReader(f)]


def compare(args):
    a = read_trace(os.path.join(args.dir, f"trace_{args.a}.csv"))
    b = read_trace(os.path.join(args.dir, f"trace_{args.b}.csv"))
    n = min(len(a), len(b))
    if n == 0:
        sys.exit("empty trace")
    rel = [abs(a[i][1] - b[i][1]) / abs(b[i][1]) for i in range(n)]
    grel = [abs(a[i][2] - b[i][2]) / abs(b[i][2]) for i in range(n)]
    lr_diff = max(abs(a[i][3] - b[i][3]) for i in range(n))
    first = min(args.first, n)
    worst_first = max(range(first), key=lambda i: rel[i])
    print(f"{args.a} vs {args.b}: {n} steps")
    print(f"  loss rel diff, steps 1..{first}: max {rel[worst_first]:.2e} (step {worst_first + 1})")
    for s in (10, 50, 100, 200, 500, 1000, 2000):
        if s <= n:
            print(f"  loss rel diff at step {s}: {rel[s - 1]:.2e}  ({a[s - 1][1]:.6f} vs {b[s - 1][1]:.6f})")
    print(f"  loss rel diff at last step {n}: {rel[n - 1]:.2e}; max over all steps {max(rel):.2e} "
          f"(step {max(range(n), key=lambda i: rel[i]) + 1})")
    print(f"  grad_norm rel diff: max steps 1..{first} {max(grel[:first]):.2e}, at step {n} {grel[n - 1]:.2e}")
    print(f"  lr max abs diff: {lr_diff:.1e}")
    fa = os.path.join(args.dir, f"final_{args.a}.safetensors")
    fb = os.path.join(args.dir, f"final_{args.b}.safetensors")
    if os.path.exists(fa) and os.path.exists(fb):
        wa, wb = read_safetensors(fa), read_safetensors(fb)
        print("  final weights (rel L2 = |a-b|/|b|; max abs):")
        worst = 0.0
        for k in sorted(wb, key=lambda k: (k.split(".")[1].isdigit() and int(k.split(".")[1]), k)):
            x, y = wa[k].astype(np.float64), wb[k].astype(np.float64)
            r = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)
            worst = max(worst, r)
            if args.verbose:
                print(f"    {k:28s} rel L2 {r:.2e}  max abs {np.abs(x - y).max():.2e}")
        print(f"    worst tensor rel L2 {worst:.2e}")
    ok = rel[worst_first] <= 1e-4 and rel[n - 1] <= 1e-2
    print(f"  parity: {'PASS' if ok else 'FAIL'} (<= 1e-4 over the first {first} steps, <= 1e-2 at step {n})")
    return 0 if ok else 1


def spread(args):
    tags = args.tags.split(",")
    finals = {}  # tag -> [mean loss of the last window, per dir]
    print(f"mean loss over the last {args.window} steps")
    print("dir".ljust(28) + "".join(t.rjust(12) for t in tags))
    for d in args.dirs:
        row = []
        for t in tags:
            tr = read_trace(os.path.join(d, f"trace_{t}.csv"))
            v = float(np.mean([r[1] for r in tr[-args.window :]]))
            finals.setdefault(t, []).append(v)
            row.append(v)
        print(os.path.basename(os.path.normpath(d)).ljust(28) + "".join(f"{v:12.5f}" for v in row))
    n = len(args.dirs)
    logs = {t: np.log(np.array(v)) for t, v in finals.items()}
    print(f"\nper implementation, over {n} seeds: geometric mean of the final loss, sd of its log")
    for t in tags:
        sd = logs[t].std(ddof=1) if n > 1 else float("nan")
        print(f"  {t:10s} {math.exp(logs[t].mean()):.5f}  sd(log) {sd:.3f}")
    # Student t 97.5 % quantiles for small n (df = n - 1).
    tq = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
    print("\npaired over seeds: final-loss ratio A/B (geometric mean, 95 % t interval), sign-flip p")
    for i, a in enumerate(tags):
        for b in tags[i + 1 :]:
            d = logs[a] - logs[b]
            m = d.mean()
            if n > 1:
                half = tq.get(n - 1, 1.96) * d.std(ddof=1) / math.sqrt(n)
                # Exact two-sided sign-flip test of mean(d) = 0: all 2^n sign patterns.
                flips = [abs(sum(x if (k >> j) & 1 else -x for j, x in enumerate(d))) for k in range(2**n)]
                p = sum(f >= abs(d.sum()) - 1e-12 for f in flips) / 2**n
                print(f"  {a} / {b}: {math.exp(m):.3f} [{math.exp(m - half):.3f}, {math.exp(m + half):.3f}]  p = {p:.3f}")
            else:
                print(f"  {a} / {b}: {math.exp(m):.3f} (one seed: no interval)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="replay an export in PyTorch")
    t.add_argument("dir")
    t.add_argument("--steps", type=int, default=0, help="steps to train (default: all exported)")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    t.add_argument("--tag", default="torch", help="output names: trace_TAG.csv, final_TAG.safetensors")
    t.add_argument("--progress", type=int, default=0, help="print the loss every N steps")
    c = sub.add_parser("compare", help="compare two traces and final weights of an export")
    c.add_argument("dir")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--first", type=int, default=100)
    c.add_argument("--verbose", action="store_true", help="every tensor's difference")
    sp = sub.add_parser("spread", help="final losses of several seeds and implementations")
    sp.add_argument("dirs", nargs="+")
    sp.add_argument("--tags", default="fast,torch", help="comma-separated trace tags")
    sp.add_argument("--window", type=int, default=100, help="mean over the last N steps")
    args = ap.parse_args()
    if args.cmd == "train":
        train(args)
    elif args.cmd == "spread":
        sys.exit(spread(args))
    else:
        sys.exit(compare(args))


if __name__ == "__main__":
    main()
