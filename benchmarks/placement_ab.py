"""Two isp builds A/B, with each pair of blocks labelled by where the VM's two vCPUs were.

These VMs move their two vCPUs between a close placement (a cache line's round trip 50-130 ns,
`pingpong.c`) and a far one (310-390 ns) every few seconds, and a split pass runs about 1.5x
slower far apart (mobilenet_v2 at 224, AVX2: 4.0 against 6.3 ms); a process can also keep a few
percent of speed of its own for its whole life. So: blocks of `--block` passes of A and B
alternate (B first every other pair, each once both processes are quiet), `pingpong` runs
before each pair, and both processes are restarted every `--restart` pairs (B started first every
other time); the per-pair ratios B/A are reported separately for close and far pairs.

  gcc -O2 -pthread benchmarks/pingpong.c -o /tmp/pingpong
  python3 benchmarks/placement_ab.py A/isp B/isp [--pairs 80] [--block 20] -- MODEL --random-inputs [--prune stored]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleave import PassServer, wait_until_quiet  # noqa: E402

FAR_NS = 200  # round trips above this are the far placement


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("isp_a")
    ap.add_argument("isp_b")
    ap.add_argument("--pairs", type=int, default=80)
    ap.add_argument("--block", type=int, default=20, help="passes per block")
    ap.add_argument("--restart", type=int, default=10, help="pairs per pair of processes")
    ap.add_argument("--pingpong", default="/tmp/pingpong", help="benchmarks/pingpong.c built")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        ap.error("give isp bench's arguments after --")
    a = ap.parse_args(argv[:argv.index("--")])
    bench_args = argv[argv.index("--") + 1:]
    if a.pairs < 1 or a.block < 1 or a.restart < 1:
        ap.error("--pairs, --block and --restart must be >= 1")
    servers = []
    rows = []  # (round trip ns, A ms, B ms)
    for i in range(a.pairs):
        if i % a.restart == 0:
            for s in servers:
                s.close()
            first_b = (i // a.restart) % 2 == 1
            made = {b: PassServer(b, bench_args) for b in ((a.isp_b, a.isp_a) if first_b else (a.isp_a, a.isp_b))}
            servers = [made[a.isp_a], made[a.isp_b]]
        trip = float(subprocess.run([a.pingpong], capture_output=True, text=True, check=True).stdout.split()[2])
        pids = [s.process.pid for s in servers]
        times = [0.0, 0.0]
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            wait_until_quiet(pids)
            times[k] = statistics.median(servers[k].passes(a.block + 1)[1:])
        rows.append((trip, times[0], times[1]))
        print(f"\rpair {i + 1}/{a.pairs}: round trip {trip:.0f} ns, B/A {times[1] / times[0]:.3f}", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for s in servers:
        s.close()
    for name, chosen in (("close", [r for r in rows if r[0] < FAR_NS]), ("far", [r for r in rows if r[0] >= FAR_NS])):
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
