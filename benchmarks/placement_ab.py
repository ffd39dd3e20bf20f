"""Two engines A/B (two isp builds, or isp and ONNX Runtime), with each pair of blocks labelled
by where the VM's two vCPUs were.

These VMs move their two vCPUs every few seconds between three placements: close (a cache
line's round trip 50-130 ns), far apart (310-390 ns), and close but on one core's two threads
(both vCPUs together reach one core's multiply-add rate). A split pass of mobilenet_v2 at 224
(AVX2, AMD Zen 4) ran about 4.0, 6.3 and 5.8 ms in them; a process can also keep a few percent of
speed of its own for its whole life. So: blocks of `--block` passes of A and B alternate (B first
every other pair, each once both processes are quiet), `vcpu_probe.c` samples the placement
before each pair, and both processes are restarted every `--restart` pairs (B started first every
other time); the per-pair ratios B/A are reported for each placement.

  gcc -O3 -pthread benchmarks/vcpu_probe.c -o /tmp/vcpu_probe
  python3 benchmarks/placement_ab.py A/isp B/isp [--pairs 80] [--block 20] [--pairs-out FILE] -- MODEL --random-inputs [--prune stored]

--pairs-out lists every pair with its probe sample: on an AVX2-only Zen 3 (2026-12-06, stop 75)
both engines had fast and slow stretches that the sample did not tell apart (isp mostly 7.2-8.3
ms against 4.8-5.7, ONNX Runtime 5.8-6.8 against 4.7-5.6, all at 50-52 G/s and 95-160 ns).

An engine given as `onnxruntime:FILE.onnx` is ONNX Runtime on that model, run in this process
on a random input with two intra-op threads, as peers.py runs it; peers.py exports MODEL's weights:
  python3 benchmarks/peers.py --checkpoint MODEL --runs 200 --rounds 1 --keep-onnx /tmp/m.onnx
  python3 benchmarks/placement_ab.py onnxruntime:/tmp/m.onnx .build/release/isp -- MODEL --random-inputs
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from typing import List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleave import PassServer, timed_passes, wait_until_quiet  # noqa: E402

FAR_NS = 200  # round trips above this are the far placement
SHARED_CORE = 1.4  # both vCPUs together under this many times one alone: one core's two threads
ONNX = "onnxruntime:"  # an engine named so is ONNX Runtime on the file after the colon


def placement(probe: str) -> Tuple[str, List[float]]:
    """close, far or shared core, from one `vcpu_probe` sample, and the sample's figures (G
    multiply-adds/s of cpu 0 alone, of cpu 0 and cpu 1 together, the round trip in ns, G floats/s
    read from cpu 0's L2 and from the L3)."""
    line = subprocess.run([probe, "0.2"], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    m = re.search(r"alone ([\d.]+) G/s \| together cpu 0 ([\d.]+), cpu 1 ([\d.]+) G/s \| round trip ([\d.]+) ns", line)
    if not m:
        sys.exit(f"placement_ab: {probe} printed '{line}'")
    alone, cpu0, cpu1, trip = figures = [float(x) for x in m.groups()]
    reads = re.search(r"reads: L2 ([\d.]+), L3 ([\d.]+) G floats/s", line)
    if not reads:
        sys.exit(f"placement_ab: {probe} printed no cache read rates (an old build of vcpu_probe.c?): '{line}'")
    figures += [float(x) for x in reads.groups()]
    return "far" if trip >= FAR_NS else "shared core" if cpu0 + cpu1 < SHARED_CORE * alone else "close", figures


class OnnxRuntime:
    """ONNX Runtime on an ONNX file, in this process; passes(n) as PassServer's."""

    def __init__(self, path: str, threads: int = 2):
        import numpy as np
        from peers import load_onnxruntime  # torch and ONNX Runtime: only for this engine
        self.session = load_onnxruntime(path, threads)
        shape = [d if isinstance(d, int) else 1 for d in self.session.get_inputs()[0].shape]
        self.feed = {self.session.get_inputs()[0].name: np.random.default_rng(1).standard_normal(shape, dtype=np.float32)}
        self.passes = timed_passes(lambda: self.session.run(None, self.feed))
        self.pid = os.getpid()

    def close(self) -> None:  # the session ends with this object
        pass


def start(engine: str, bench_args: List[str]):
    """The engine named `engine` (an isp binary, or ONNX Runtime), ready for passes(n)."""
    if engine.startswith(ONNX):
        return OnnxRuntime(engine[len(ONNX):])
    server = PassServer(engine, bench_args)
    server.pid = server.process.pid
    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("engine_a", help="an isp binary, or onnxruntime:FILE.onnx")
    ap.add_argument("engine_b", help="the same")
    ap.add_argument("--pairs", type=int, default=80)
    ap.add_argument("--block", type=int, default=20, help="passes per block")
    ap.add_argument("--restart", type=int, default=10, help="pairs per pair of processes")
    ap.add_argument("--probe", default="/tmp/vcpu_probe", help="benchmarks/vcpu_probe.c built")
    ap.add_argument("--pairs-out", metavar="FILE", help="also write each pair's probe sample and both medians, one line a pair")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        ap.error("give isp bench's arguments after --")
    a = ap.parse_args(argv[:argv.index("--")])
    bench_args = argv[argv.index("--") + 1:]
    if a.pairs < 1 or a.block < 1 or a.restart < 1:
        ap.error("--pairs, --block and --restart must be >= 1")
    servers = []
    rows = []  # (placement, A ms, B ms)
    lines = ["pair\tplacement\tcpu 0 alone G/s\tcpu 0 together\tcpu 1 together\tround trip ns\tL2 reads G floats/s\tL3 reads\tA ms\tB ms\tB/A"]
    for i in range(a.pairs):
        if i % a.restart == 0:
            for s in servers:
                s.close()
            first_b = (i // a.restart) % 2 == 1
            order = (1, 0) if first_b else (0, 1)
            made = {k: start((a.engine_a, a.engine_b)[k], bench_args) for k in order}
            servers = [made[0], made[1]]
        where, figures = placement(a.probe)
        pids = sorted({s.pid for s in servers} | {os.getpid()})
        times = [0.0, 0.0]
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            wait_until_quiet(pids)
            times[k] = statistics.median(servers[k].passes(a.block + 1)[1:])
        rows.append((where, times[0], times[1]))
        lines.append(f"{i}\t{where}\t" + "\t".join(f"{x:g}" for x in figures) + f"\t{times[0]:.3f}\t{times[1]:.3f}\t{times[1] / times[0]:.3f}")
        print(f"\rpair {i + 1}/{a.pairs}: {where}, B/A {times[1] / times[0]:.3f}", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for s in servers:
        s.close()
    if a.pairs_out:
        with open(a.pairs_out, "w") as f:
            f.write("\n".join(lines) + "\n")
    for name in ("close", "far", "shared core"):
        chosen = [r for r in rows if r[0] == name]
        if not chosen:
            print(f"{name}: no pairs")
            continue
        ratios = sorted(r[2] / r[1] for r in chosen)
        n = len(ratios)
        print(f"{name}: {n} pairs, A {statistics.median(r[1] for r in chosen):.3f} ms, "
              f"B {statistics.median(r[2] for r in chosen):.3f} ms (medians), B/A median {statistics.median(ratios):.3f} "
              f"(quartiles {ratios[n // 4]:.3f}-{ratios[3 * n // 4]:.3f})")


if __name__ == "__main__":
    main()
