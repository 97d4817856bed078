#!/usr/bin/env python3
"""docs/STATISTICS.md's forecast backtest table, from the forecast.csv of every gallery run folder.

    python3 scripts/forecast_table.py docs/gallery

`emerge forecast` (run by `emerge analyze` when an N* is located) predicts
each located exact-match N* from the sizes below the level alone and checks
it against the measured N*. One row per gallery curve with a located N*
(for an ablation preset, per arm: <preset>/arms/<arm>/forecast.csv): the
sizes below, the measured N*, and each predictor's error in decades
(log10 forecast/measured; + is late) with whether its 95 % interval held the
measured N*. Then per predictor the median |error| over the curves it
forecast and its coverage over every curve with enough sizes below (a curve
it does not forecast counts as a miss). Curves with fewer than 3 sizes below
are listed as "too few sizes below", and a curve forecast from the same
sizes and scores as another (an arm that repeats a preset's training below
the level) is counted once. Standard library only.
"""
import os
import statistics
import sys

from gallery_table import rows, si

PREDICTORS = ["log_linear", "sigmoid", "logprob"]
TARGET_ERROR, TARGET_COVERAGE = 0.25, 0.8


def folders(root):
    """(label, forecast.csv path) for every run folder and arm under root."""
    out = []
    for preset in sorted(os.listdir(root)):
        d = os.path.join(root, preset)
        if not os.path.isdir(d) or preset.startswith("."):
            continue
        f = os.path.join(d, "forecast.csv")
        if os.path.isfile(f):
            out.append((preset, f))
        arms = os.path.join(d, "arms")
        if os.path.isdir(arms):
            for arm in sorted(os.listdir(arms)):
                f = os.path.join(arms, arm, "forecast.csv")
                if os.path.isfile(f):
                    out.append((f"{preset} `{arm}`", f))
    return out


def main(root):
    found = folders(root)
    if not found:
        print(f"No forecast.csv under {root}/ yet: `emerge forecast --run DIR` writes it.\n")
        return
    curves = {}
    for label, path in found:
        for r in rows(path):
            key = (label, r["task"], r["mode"], r["shots"])
            curves.setdefault(key, {})[r["predictor"]] = r
    lines = [
        "| run | curve | sizes below | measured N* | "
        + " | ".join(f"`{p}` error (held)" for p in PREDICTORS)
        + " |",
        "|---|---|---|---|" + "---|" * len(PREDICTORS),
    ]
    errors = {p: [] for p in PREDICTORS}
    held = {p: 0 for p in PREDICTORS}
    scored, too_few, twice = 0, [], []
    seen = {}
    for (label, task, mode, shots), by in sorted(curves.items()):
        any_row = next(iter(by.values()))
        curve = f"{task} {mode}" + (f" {shots}-shot" if shots != "0" else "")
        measured = f"{si(any_row['measured'])}"
        if any_row["status"] == "too_few_sizes_below":
            too_few.append(f"{label}: {curve} ({any_row['sizes_used']} below)")
            continue
        # An arm that repeats another run's training below the level
        # (lr-robust's `lr` is the add preset's, less its largest size) makes
        # the same point forecasts from the same points: count it once.
        same = (task, mode, shots, any_row["sizes_used"], any_row["largest_used"]) + tuple(
            by[p]["forecast"] for p in ("log_linear", "sigmoid") if p in by
        )
        if same in seen:
            twice.append(f"{label}: {curve} (forecast from the same sizes and scores as {seen[same]})")
            continue
        seen[same] = label
        scored += 1
        cells = []
        for p in PREDICTORS:
            r = by.get(p)
            if r is None or r["status"] != "ok":
                cells.append("none")
                continue
            e = float(r["error_decades"])
            errors[p].append(abs(e))
            ok = r["covered"] == "true"
            held[p] += ok
            open_side = "" if r["forecast_lo"] and r["forecast_hi"] else ", open"
            basis = f" [{r['basis']}]" if p == "logprob" else ""
            cells.append(f"{e:+.2f} ({'yes' if ok else 'no'}{open_side}){basis}")
        lines.append(
            f"| {label} | {curve} | {any_row['sizes_used']} | {measured} | " + " | ".join(cells) + " |"
        )
    summary = []
    for p in PREDICTORS:
        if scored == 0:
            break
        med = f"{statistics.median(errors[p]):.2f} decade" if errors[p] else "none"
        summary.append(
            f"`{p}`: median |error| {med} over {len(errors[p])} of {scored} curves forecast, "
            f"interval held the measured N* in {held[p]} of {scored} ({held[p] / scored:.0%})"
        )
    lines.append(
        "| **median \\|error\\|, coverage** | | | | "
        + " | ".join(
            (f"{statistics.median(errors[p]):.2f}, {held[p]}/{scored}" if errors[p] else f"none, 0/{scored}")
            for p in PREDICTORS
        )
        + " |"
    )
    print("\n".join(lines))
    print()
    for s in summary:
        print(f"- {s}")
    if too_few:
        print(f"- too few sizes below (fewer than 3): {'; '.join(too_few)}")
    if twice:
        print(f"- counted once: {'; '.join(twice)}")
    print(
        f"- target: the best predictor's median |error| at most {TARGET_ERROR} decade "
        f"and coverage at least {TARGET_COVERAGE:.0%}"
    )
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/gallery")
