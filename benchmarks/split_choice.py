"""Batch-1 latency with and without the per-pass choice between two cores and one (SplitChoice),
beside ONNX Runtime, round after round, each round tagged with where the VM put its two vCPUs.

    python benchmarks/split_choice.py MODEL.onnx MODEL.safetensors --isp .build/release/isp --rounds 6

Per round, one after another: ONNX Runtime on two threads, `isp bench FILE --random-inputs` (the
choice on), the same with `--always-split`, the same on cpu 0 alone (taskset), each the median of
--runs passes; then the cache-line round trip between cpu 0 and cpu 1 (benchmarks/placement.py):
about 70-140 ns when the vCPUs are close, 420-440 ns when far apart. Both files hold
the same weights (as benchmarks/peers.py writes them).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ort_profile import session as onnxruntime_session  # noqa: E402
from placement import Placement  # noqa: E402


def onnxruntime_ms(path: str, runs: int) -> float:
    session = onnxruntime_session(path, 2, profile=False)
    feed = session.get_inputs()[0]
    x = np.random.rand(*[d if isinstance(d, int) else 1 for d in feed.shape]).astype(np.float32)
    for _ in range(50):
        session.run(None, {feed.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        session.run(None, {feed.name: x})
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1e6


def isp_ms(isp: str, model: str, runs: int, cpus: str, extra: list) -> dict:
    out = subprocess.run(["taskset", "-c", cpus, isp, "bench", model, "--random-inputs", "--runs", str(runs),
                          "--no-train", "--json"] + extra, capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    return {"ms": d["latency_ms_median"], "on_one_core": d["latency_passes_on_one_core"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("safetensors")
    ap.add_argument("--isp", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    placement = Placement()
    rows = []
    if not a.json:
        print("round  ONNX Runtime  isp choosing (on one core)  isp always split  isp on cpu 0  choosing / ONNX Runtime  round trip")
    for r in range(a.rounds):
        row = {"onnxruntime_ms": onnxruntime_ms(a.onnx, a.runs)}
        row["isp"] = isp_ms(a.isp, a.safetensors, a.runs, "0,1", [])
        row["isp_always_split"] = isp_ms(a.isp, a.safetensors, a.runs, "0,1", ["--always-split"])
        row["isp_one_core"] = isp_ms(a.isp, a.safetensors, a.runs, "0", [])
        row["round_trip_ns"] = placement.round_trip_ns()
        rows.append(row)
        if not a.json:
            print(f"{r:5d}  {row['onnxruntime_ms']:9.3f} ms  {row['isp']['ms']:9.3f} ms ({100 * row['isp']['on_one_core']:3.0f}%)"
                  f"      {row['isp_always_split']['ms']:9.3f} ms  {row['isp_one_core']['ms']:9.3f} ms"
                  f"  {row['isp']['ms'] / row['onnxruntime_ms']:21.2f}  {row['round_trip_ns']:6.0f} ns", flush=True)
    if a.json:
        print(json.dumps({"onnx": a.onnx, "safetensors": a.safetensors, "runs": a.runs, "rounds": rows}, indent=1))


if __name__ == "__main__":
    main()
