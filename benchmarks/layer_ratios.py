"""Where isp and ONNX Runtime differ, block by block: the batch-1 time of each block of a network
(isp's steps from `isp bench --profile`, ONNX Runtime's nodes from its profiler) on the same
random weights, median of alternating rounds, beside each engine's unprofiled passes.

  python benchmarks/layer_ratios.py --arch mobilenetv2 --input-size 224 --in-channels 3 --classes 1000 \\
      --isp .build/release/isp --rounds 3
  taskset -c 0 python benchmarks/layer_ratios.py --arch resnet18 --width 0.5 --isp .build/release/isp --threads 1

A block is a unit both engines name alike: `features.3`, `layer1.0`, `conv1`, `classifier.1`
(torchvision's module paths; VGG16's fused nodes are named after their activation, so its rows
do not pair up). isp's residual '(add)' rows include their branch's steps, which are counted one
by one, so they are left out of the sums. ONNX Runtime's nodes outside any module (layout
reorders, flatten, a functional pooling) are `(other)`. isp runs on every core the process may
use: give --threads the number `taskset` allows. The profilers cost differently (ONNX Runtime's
about 2 us a node, isp's a clock read a step), so the blocks say where time goes and the passes
say which engine is faster. On small networks ONNX Runtime's profiler costs more than its
layers (MobileNetV2 w0.5 at 32x32: nodes summing to 0.98 ms for a 0.46 ms pass), so use it where
the layers are large (the 224x224 networks).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import make_metadata, randomize_bn, save_safetensors  # noqa: E402
from ort_profile import node_times  # noqa: E402
from peers import export_onnx  # noqa: E402
from torch_models import add_model_arguments, build, standard_stem  # noqa: E402


def isp_block(label: str) -> str:
    parts = label.removeprefix("saliency of ").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and parts[1].isdigit() else parts[0]


def ort_block(name: str) -> str:
    parts = name.strip("/").split("/")
    if len(parts) < 2:
        return "(other)"
    return parts[1] if parts[1].startswith(parts[0] + ".") else parts[0]


def isp_round(isp: str, weights: str, runs: int) -> Tuple[float, Dict[str, float]]:
    cmd = [isp, "bench", weights, "--random-inputs", "--no-train", "--profile", "--runs", str(runs), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"layer_ratios.py: {' '.join(cmd)} failed: {p.stderr.strip().splitlines()[-1:]}")
    d = json.loads(p.stdout)
    blocks: Dict[str, float] = defaultdict(float)
    for step in d["profile_ms"]:
        if not step["step"].endswith("(add)"):
            blocks[isp_block(step["step"])] += step["ms"]
    return d["latency_ms_median"], blocks


def ort_round(path: str, threads: int, runs: int) -> Tuple[float, Dict[str, float]]:
    median, nodes = node_times(path, threads, runs, warmup=max(20, runs // 5))
    blocks: Dict[str, float] = defaultdict(float)
    for name, _, us in nodes:
        blocks[ort_block(name)] += us / 1000
    return median, blocks


def alternate(a: argparse.Namespace, weights: str, onnx: str):
    """Per engine, the unprofiled pass of each round and each block's times over the rounds."""
    passes: Dict[str, List[float]] = {"isp": [], "onnxruntime": []}
    rounds: Dict[str, Dict[str, List[float]]] = {"isp": defaultdict(list), "onnxruntime": defaultdict(list)}
    for r in range(a.rounds):
        for engine, run in (("onnxruntime", lambda: ort_round(onnx, a.threads, a.runs)),
                            ("isp", lambda: isp_round(a.isp, weights, a.runs))):
            median, blocks = run()
            passes[engine].append(median)
            for name, ms in blocks.items():
                rounds[engine][name].append(ms)
        print(f"round {r + 1}/{a.rounds}: isp {passes['isp'][-1]:.3f} ms, ONNX Runtime {passes['onnxruntime'][-1]:.3f} ms",
              file=sys.stderr)
    return passes, rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(ap)
    ap.add_argument("--isp", required=True, metavar="PATH", help="the isp binary")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime's threads (default 2)")
    ap.add_argument("--runs", type=int, default=300, help="passes per engine and round (default 300)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two engines (default 3)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args()

    stem = a.stem or standard_stem(a.input_size)
    torch.manual_seed(0)
    model = build(a.arch, a.width, a.in_channels, a.classes, stem).eval()
    randomize_bn(model)
    work = tempfile.mkdtemp(prefix="layer-ratios-")
    weights, onnx = os.path.join(work, "model.safetensors"), os.path.join(work, "model.onnx")
    save_safetensors(model, weights, make_metadata(a.arch, a.width, a.in_channels, a.classes, a.input_size,
                                                   [0.0] * a.in_channels, [1.0] * a.in_channels, "none (random weights)", stem=stem))
    export_onnx(model, torch.randn(1, a.in_channels, a.input_size, a.input_size), onnx)

    try:
        passes, rounds = alternate(a, weights, onnx)
    finally:
        shutil.rmtree(work)

    # isp's blocks in the order it runs them, then the ones only ONNX Runtime has.
    order = list(rounds["isp"]) + [b for b in rounds["onnxruntime"] if b not in rounds["isp"]]

    def med(v: List[float]):
        return float(np.median(v)) if v else None
    rows = [{"block": b, "isp_ms": med(rounds["isp"].get(b, [])), "onnxruntime_ms": med(rounds["onnxruntime"].get(b, []))}
            for b in order]
    for row in rows:
        row["ratio"] = row["isp_ms"] / row["onnxruntime_ms"] if row["isp_ms"] and row["onnxruntime_ms"] else None
    result = {"arch": a.arch, "width": a.width, "input_size": a.input_size, "stem": stem, "threads": a.threads,
              "runs": a.runs, "rounds": a.rounds, "blocks": rows,
              "isp_pass_ms": passes["isp"], "onnxruntime_pass_ms": passes["onnxruntime"],
              "isp_blocks_sum_ms": sum(r["isp_ms"] or 0 for r in rows),
              "onnxruntime_blocks_sum_ms": sum(r["onnxruntime_ms"] or 0 for r in rows)}
    if a.json:
        print(json.dumps(result, indent=1))
        return
    def cell(v, spec):
        return format("-", ">8s") if v is None else format(v, spec)
    print(f"{'block':16s} {'isp ms':>8s} {'ORT ms':>8s} {'isp/ORT':>8s}")
    for row in rows:
        print(f"{row['block']:16s} {cell(row['isp_ms'], '8.4f')} {cell(row['onnxruntime_ms'], '8.4f')} {cell(row['ratio'], '8.2f')}")
    print(f"{'sum of blocks':16s} {result['isp_blocks_sum_ms']:8.3f} {result['onnxruntime_blocks_sum_ms']:8.3f} "
          f"{result['isp_blocks_sum_ms'] / result['onnxruntime_blocks_sum_ms']:8.2f}")
    print("unprofiled passes per round (ms): isp " + ", ".join(f"{v:.3f}" for v in passes["isp"])
          + "; ONNX Runtime " + ", ".join(f"{v:.3f}" for v in passes["onnxruntime"]))


if __name__ == "__main__":
    main()
