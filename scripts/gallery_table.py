#!/usr/bin/env python3
"""The README's gallery table, from the run folders copied into docs/gallery/<task>/.

    python3 scripts/gallery_table.py docs/gallery               # README's tables
    python3 scripts/gallery_table.py docs/gallery --ablations   # docs/ABLATIONS.md's

One row per per-task preset: chance, the number of seeds, final exact match
(seed mean) at the smallest and the largest size (direct / cot), per mode N*
at the fixed level from fits.csv (params axis) with its interval, or "not
located", and the verdict with how many seeds agree, and the number behind
the task's claim from claims.csv (for most tasks the largest
chain-of-thought gain over the ladder; for `icl` the few-shot gain of the
best shot count against 0 shots, whose N* the row gives).
When docs/gallery/overnight/ exists, a second table: per task and mode, N*
trained alone (its preset) against N* in the overnight mixture, the shift
in decades and each task's tokens per model. With --ablations, for each
ablation preset copied into docs/gallery/<preset>/ with an arms.csv, a
table: per task, mode and arm, N*, its shift from the baseline arm (and
the control), and the sizes where the Holm-adjusted paired test on
identical items gives p < 0.05. Standard library only.
"""
import csv
import math
import os
import sys
import tomllib

TASKS = ["add", "mul", "sort", "word", "modp", "icl", "hop"]
ABLATIONS = ["code-ablation", "lr-robust"]
MIXTURE = "overnight"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def si(x):
    """A size to three significant digits with an SI suffix, as emerge prints
    sizes everywhere (results::human::si in the Rust code)."""
    x = float(x)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def final_em(run, task, shots):
    """{(mode, size): (value, chance)} at each model's last scored step."""
    size = {m["model_id"]: int(m["params_non_embedding"]) for m in rows(f"{run}/models.csv")}
    last = {}
    for r in rows(f"{run}/scores.csv"):
        if r["metric"] != "exact_match" or r["task"] != task or r["shots"] != shots:
            continue
        k = (r["mode"], r["model_id"])
        if k not in last or int(r["step"]) > int(last[k]["step"]):
            last[k] = r
    out = {}
    for (mode, mid), r in last.items():
        out.setdefault((mode, size[mid]), []).append((float(r["value"]), float(r["chance"])))
    return {k: (sum(v for v, _ in xs) / len(xs), xs[0][1]) for k, xs in out.items()}


def threshold(run, task, mode, shots):
    """N* at the fixed level with its interval, and the verdict with its seed count."""
    fits = [
        r
        for r in rows(f"{run}/fits.csv")
        if r["task"] == task
        and r["mode"] == mode
        and r["shots"] == shots
        and r["metric"] == "exact_match"
        and r["x_axis"] == "params"
    ]
    sig = next((r for r in fits if r["shape"] == "sigmoid"), None)
    if sig is not None and "verdict" not in sig:
        return "stale: made before the fixed-level N*, re-run pending", "—"
    if not sig or not sig["verdict"]:
        return "n/a", "n/a"
    verdict = f"{sig['verdict'].replace('_', ' ')} ({sig['verdict_seeds']})"
    if sig["threshold_method"] == "not_located" or not sig["threshold_params"]:
        return "not located", verdict
    lo = si(sig["threshold_lo"]) if sig["threshold_lo"] else "below"
    hi = si(sig["threshold_hi"]) if sig["threshold_hi"] else "beyond"
    if sig["interval_method"] == "bracket":
        return f"between {lo} and {hi}", verdict
    return f"{si(sig['threshold_params'])} [{lo}, {hi}]", verdict


def best_shots(run, shots_all):
    """The shot count (one or more) whose chain-of-thought exact match is
    highest at the largest size: the few-shot row's k."""
    def at_largest(k):
        em = final_em(run, "icl", str(k))
        cot = [(s, v) for (m, s), (v, _) in em.items() if m == "cot"]
        return max(cot)[1] if cot else float("-inf")
    ks = [k for k in shots_all if k > 0] or shots_all
    return str(max(ks, key=lambda k: (at_largest(k), -k)))


def seeds_of(run):
    return len({m["seed"] for m in rows(f"{run}/models.csv")})


def claim(run, kind, task, mode, shots, size):
    for r in rows(f"{run}/claims.csv"):
        if (r["claim"], r["task"], r["mode"], r["shots"], int(r["params_non_embedding"])) == (
            kind,
            task,
            mode,
            shots,
            size,
        ):
            v, lo, hi = float(r["value"]), float(r["ci_lo"]), float(r["ci_hi"])
            return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]"
    return "n/a"


def largest(run, kind, task, shots, label, mode=None):
    """The largest value of a claim over sizes, with its interval and size."""
    best = None
    for r in rows(f"{run}/claims.csv"):
        if (r["claim"], r["task"], r["shots"]) == (kind, task, shots) and mode in (None, r["mode"]):
            if best is None or float(r["value"]) > float(best["value"]):
                best = r
    if best is None:
        return "n/a"
    v, lo, hi = float(best["value"]), float(best["ci_lo"]), float(best["ci_hi"])
    return f"{label}: {v:+.2f} [{lo:+.2f}, {hi:+.2f}] at {si(best['params_non_embedding'])}"


def largest_gain(run, task, shots):
    """The largest cot − direct gain over sizes."""
    return largest(run, "cot_gain", task, shots, "largest cot − direct")


def main(gallery):
    print("| task | chance | seeds | exact match, smallest size (direct / cot) | largest size (direct / cot) "
          "| N* direct | verdict direct (seeds agreeing) | N* cot | verdict cot (seeds agreeing) "
          "| the claim's number | curves |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for task in TASKS:
        run = os.path.join(gallery, task)
        if not os.path.isfile(f"{run}/scores.csv"):
            continue
        shots_all = sorted({int(r["shots"]) for r in rows(f"{run}/scores.csv") if r["task"] == task})
        shots = str(shots_all[-1])
        if task == "icl":
            shots = best_shots(run, shots_all)
        em = final_em(run, task, shots)
        sizes = sorted({s for _, s in em})
        lo, hi = sizes[0], sizes[-1]
        chance = next(iter(em.values()))[1]
        cell = lambda s: " / ".join(f"{em.get((m, s), (float('nan'),))[0]:.2f}" for m in ("direct", "cot"))
        nd, pd = threshold(run, task, "direct", shots)
        nc, pc = threshold(run, task, "cot", shots)
        if task == "word":
            num = (f"word − word_ood (cot) at {si(hi)}: {claim(run, 'ood_gap', 'word', 'cot', shots, hi)}; "
                   f"word_twin parrot rate (cot) at {si(hi)}: {claim(run, 'parrot', 'word_twin', 'cot', shots, hi)}; "
                   f"{largest_gain(run, 'word', shots)}")
        elif task == "icl":
            by_k = " / ".join(
                f"{final_em(run, task, str(k)).get(('cot', hi), (float('nan'),))[0]:.2f}" for k in shots_all
            )
            base = shots_all[0]
            num = (f"few-shot gain ({shots} − {base} shots, cot) at {si(hi)}: "
                   f"{claim(run, 'shot_gain', 'icl', 'cot', shots, hi)}, at {si(lo)}: "
                   f"{claim(run, 'shot_gain', 'icl', 'cot', shots, lo)}; "
                   f"cot at {si(hi)} by shots ({'/'.join(map(str, shots_all))}): {by_k}")
        elif task == "sort":
            num = f"exact match at {si(hi)} (cot / direct): {cell(hi).split(' / ')[1]} / {cell(hi).split(' / ')[0]}"
        else:
            num = largest_gain(run, task, shots)
        label = task + (f" ({shots} shot{'s' if shots != '1' else ''})" if shots != "0" else "")
        png = f"[{task}](docs/gallery/{task}/task_{task}.png), [claims](docs/gallery/{task}/claims.png)"
        print(f"| {label} | {chance:.3f} | {seeds_of(run)} | {cell(lo)} at {si(lo)} | {cell(hi)} at {si(hi)} "
              f"| {nd} | {pd} | {nc} | {pc} | {num} | {png} |")

    if os.path.isfile(os.path.join(gallery, MIXTURE, "fits.csv")):
        print()
        mixture_table(gallery)


def n_star(r):
    if not r["n_star"]:
        return "not located"
    lo, hi = r["n_star_lo"], r["n_star_hi"]
    if r["n_star_method"] == "bracket":
        return f"between {si(lo)} and {si(hi)}"
    return f"{si(r['n_star'])} [{si(lo)}, {si(hi)}]"


def shift(r, prefix=""):
    """A shift column of arms.csv (`shift*` from the baseline, `control_shift*` from the control)."""
    kind = r.get(f"{prefix}shift_kind", "")
    if kind in ("baseline", "control"):
        return kind
    if kind == "interval":
        return (f"{float(r[prefix + 'shift']):+.2f} [{float(r[prefix + 'shift_lo']):+.2f}, "
                f"{float(r[prefix + 'shift_hi']):+.2f}]")
    if kind == "bound":
        return f"within [{float(r[prefix + 'shift_lo']):+.2f}, {float(r[prefix + 'shift_hi']):+.2f}] (bracketed)"
    if kind == "":
        return "—"
    return "not located"


def ablations(gallery):
    """docs/ABLATIONS.md's tables: one per ablation preset with arms."""
    first = True
    for name in ABLATIONS:
        run = os.path.join(gallery, name)
        if os.path.isfile(f"{run}/arms.csv"):
            if not first:
                print()
            first = False
            arms_table(run, name)
    if first:
        print("No ablation preset has been run into docs/gallery/ yet.")


def arms_table(run, name):
    """The arms of one ablation run: N*, verdict and shifts per (task, mode, arm)."""
    paired = rows(f"{run}/arms_paired.csv")
    if not os.path.isfile(f"{run}/provenance.txt"):
        print(f"*{name}: stale, made before scripts/gallery.sh (one seed, sigmoid-midpoint N*); re-run pending.*")
        print()
    arms = rows(f"{run}/arms.csv")
    has_control = any(r.get("control") for r in arms)
    holm = "p_holm" in (paired[0] if paired else {})
    p_col = "p_holm" if holm else "p_value"
    print(f"| {name}: task | mode | arm | lr | N* (exact match) | verdict "
          "| shift from baseline, decades (95 %) "
          + ("| shift from control | " if has_control else "| ")
          + f"paired test against the baseline: sizes with {'Holm-adjusted ' if holm else ''}p < 0.05 "
          "(arm − baseline) | curves |")
    print("|---|---|---|---|---|---|---|" + ("---|" if has_control else "") + "---|---|")
    for r in arms:
        mine = [
            p
            for p in paired
            if (p["task"], p["mode"], p["shots"], p["arm"], p["baseline"])
            == (r["task"], r["mode"], r["shots"], r["arm"], r["baseline"])
        ]
        hits = [
            f"{si(p['params_non_embedding'])} ({float(p['diff']):+.2f})"
            for p in mine
            if p[p_col] and float(p[p_col]) < 0.05
        ]
        tests = "—" if r["shift_kind"] == "baseline" else (", ".join(hits) or "none") + f" of {len(mine)}"
        lr = f"{float(r['lr']):g}" if r.get("lr") else "—"
        verdict = r.get("verdict", "").replace("_", " ") or "—"
        if r.get("verdict_changes") == "true":
            verdict += " (changes with lr)"
        control = f"| {shift(r, 'control_')} " if has_control else ""
        # Linked from docs/ABLATIONS.md, beside docs/gallery/.
        png = f"[arms_{r['task']}](gallery/{name}/arms_{r['task']}.png)"
        print(f"| {r['task']} | {r['mode']} | {r['arm']} | {lr} | {n_star(r)} | {verdict} | {shift(r)} "
              f"{control}| {tests} | {png} |")


def task_tokens(run, task):
    """Tokens of `task` one model of the run trains on: its share of the
    mixture's weights (a training sequence holds one task) times the tokens
    per model (`models.csv`, the last checkpoint of any model)."""
    cfg = tomllib.load(open(f"{run}/config.toml", "rb"))
    mixture = cfg["train"]["mixture"]
    total = sum(float(e.get("weight", 1.0)) for e in mixture)
    share = sum(float(e.get("weight", 1.0)) for e in mixture if e["task"] == task) / total
    tokens = max(int(m["tokens"]) for m in rows(f"{run}/models.csv"))
    return share * tokens


def located(run, task, mode, shots):
    """(N*, lo, hi) of a located fixed-level N*, else None."""
    for r in rows(f"{run}/fits.csv"):
        if (r["task"], r["mode"], r["shots"], r["metric"], r["x_axis"], r["shape"]) == (
            task, mode, shots, "exact_match", "params", "sigmoid"
        ) and r.get("threshold_params"):
            lo = float(r["threshold_lo"]) if r["threshold_lo"] else None
            hi = float(r["threshold_hi"]) if r["threshold_hi"] else None
            return float(r["threshold_params"]), lo, hi
    return None


def mixture_table(gallery):
    """Per task and mode: N* trained alone (its preset) and in the overnight
    mixture, the shift in decades with the bounds the two intervals allow,
    and the tokens of that task each model saw."""
    mix = os.path.join(gallery, MIXTURE)
    print("| task | mode | N* alone | verdict alone | N* in the mixture | verdict in the mixture "
          "| shift, decades (bounds from the two intervals) | task tokens per model, alone / mixture |")
    print("|---|---|---|---|---|---|---|---|")
    for task in TASKS:
        alone = os.path.join(gallery, task)
        if not os.path.isfile(f"{alone}/fits.csv"):
            continue
        # icl at the largest shot count both runs score; the rest at 0 shots.
        shots = "0"
        if task == "icl":
            ks = {r["shots"] for r in rows(f"{alone}/fits.csv") if r["task"] == "icl"}
            ks &= {r["shots"] for r in rows(f"{mix}/fits.csv") if r["task"] == "icl"}
            shots = max(ks, key=int) if ks else "0"
        for mode in ("direct", "cot"):
            na, va = threshold(alone, task, mode, shots)
            nm, vm = threshold(mix, task, mode, shots)
            a, m = located(alone, task, mode, shots), located(mix, task, mode, shots)
            if a and m:
                d = math.log10(m[0] / a[0])
                lo = f"{math.log10(m[1] / a[2]):+.2f}" if m[1] and a[2] else "…"
                hi = f"{math.log10(m[2] / a[1]):+.2f}" if m[2] and a[1] else "…"
                moved = f"{d:+.2f} [{lo}, {hi}]"
            elif not a and not m:
                moved = "not located in either"
            else:
                moved = "not located " + ("alone" if not a else "in the mixture")
            toks = f"{si(task_tokens(alone, task))} / {si(task_tokens(mix, task))}"
            label = task + (f" ({shots} shots)" if shots != "0" else "")
            print(f"| {label} | {mode} | {na} | {va} | {nm} | {vm} | {moved} | {toks} |")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else "docs/gallery"
    if "--ablations" in sys.argv:
        ablations(root)
    else:
        main(root)
