#!/usr/bin/env python3
"""Ablation tables from `isp sweep --json` outputs (sweep.json files), as markdown.

Accuracy at equal FLOPs reduction is read off each policy's curve by linear interpolation between
the two measured points that bracket the target reduction (no extrapolation: outside the measured
range the cell says "-").

    python3 benchmarks/ablations.py policies  SWEEP.json [--targets 30,40,50]
    python3 benchmarks/ablations.py layers    auto=SWEEP1.json all=SWEEP2.json lowest-cv=SWEEP3.json [--policy mean]
    python3 benchmarks/ablations.py lambda    "lambda 0=SWEEP1.json" "lambda 1e-3=SWEEP2.json" [--policy mean]
    python3 benchmarks/ablations.py choose    SWEEP.json [--max-drop 0.5]

`choose` prints "POLICY ALPHA" of the point with the largest FLOPs reduction whose accuracy is at
most --max-drop points below dense (instance-wise policies only), for a sweep made with
`--on train`, so the operating point is never tuned on the test split.
"""
import json
import sys


def curve(sweep, policy):
    pts = sorted((p["flops_reduction"], p["accuracy"]) for p in sweep["points"] if p["policy"] == policy)
    return pts


def at(points, target):
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= target <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (target - x0) / (x1 - x0)
    return None


def cell(v):
    return "-" if v is None else f"{100 * v:.2f}%"


def main(argv):
    targets = [0.3, 0.4, 0.5]
    if "--targets" in argv:
        i = argv.index("--targets")
        targets = [float(t) / 100 for t in argv[i + 1].split(",")]
        del argv[i:i + 2]
    policy = "mean"
    if "--policy" in argv:
        i = argv.index("--policy")
        policy = argv[i + 1]
        del argv[i:i + 2]
    max_drop = 0.5
    if "--max-drop" in argv:
        i = argv.index("--max-drop")
        max_drop = float(argv[i + 1])
        del argv[i:i + 2]
    mode, files = argv[0], argv[1:]
    if mode == "choose":
        sweep = json.load(open(files[0]))
        ok = [p for p in sweep["points"] if p["policy"] in ("mean", "max", "energy")
              and p["accuracy"] >= sweep["accuracy_dense"] - max_drop / 100 - 1e-9]
        best = max(ok, key=lambda p: p["flops_reduction"])
        print(best["policy"], f"{best['alpha']:.6g}")
        return
    header = "| | dense | " + " | ".join(f"at {100 * t:.0f}% FLOPs reduction" for t in targets) + " |"
    print(header)
    print("|" + "---|" * (len(targets) + 2))
    if mode == "policies":
        sweep = json.load(open(files[0]))
        for name in sorted({p["policy"] for p in sweep["points"]}):
            c = curve(sweep, name)
            print(f"| {name} | {cell(sweep['accuracy_dense'])} | " + " | ".join(cell(at(c, t)) for t in targets) + " |")
    elif mode in ("layers", "lambda"):
        for spec in files:
            label, path = spec.split("=", 1)
            sweep = json.load(open(path))
            c = curve(sweep, policy)
            print(f"| {label} ({len(sweep['layers'])} maps) | {cell(sweep['accuracy_dense'])} | "
                  + " | ".join(cell(at(c, t)) for t in targets) + " |")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
