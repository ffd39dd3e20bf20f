"""Batch-1 passes of two engines alternated in short blocks, so both see the same machine.

These VMs change speed by up to 1.4x within seconds (docs/RESULTS.md, stop 51): two runs of a
few hundred passes each, one after the other, measure the phase as much as the engine. Here each
engine runs `--block` passes (once both processes are quiet, after an untimed pass), then the
other, in flipped order every block, for `--blocks` blocks; isp answers from a running
`isp bench ... --passes-on-request` process. Reported: each engine's median pass, the ratio of
those medians, and the quartiles of the per-block ratios.

A/B of two isp builds on one model:
  python benchmarks/interleave.py A/isp B/isp [--blocks N] [--block K] -- MODEL --random-inputs [--prune ...]
(benchmarks/peers.py --interleave K pairs isp with ONNX Runtime the same way.)
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence


# Both engines keep their worker threads spinning for a while after a pass, which takes a core
# from whichever engine runs next: isp for 2 ms (SpinPool.c), ONNX Runtime 1.x (two threads) for
# about 45 ms (its process used 43 ms of CPU in the 50 ms after a block of MobileNetV2 passes and
# 2-5 ms in each 100 ms after that; Zen 4, 2026-12-05). Behind a fixed 20 ms pause, isp's blocks
# after ONNX Runtime's ran with a spinning thread on the other core: passes of 1.1-1.5 ms and
# 5-7 ms stalls among 0.5 ms ones (VGG16 w0.5), and its split choice fled to one core. So each
# block starts once both processes have been quiet (under QUIET_SHARE of a core) for a window,
# then runs one untimed pass.
QUIET_WINDOW_SECONDS = 0.01
QUIET_SHARE = 0.1
QUIET_LIMIT_SECONDS = 2.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time so far of every thread of these processes (Linux: /proc/PID/task/TID/schedstat, ns)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:  # the process ended: its next request reports why
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:  # the thread ended meanwhile
                pass
    return total / 1e9


def wait_until_quiet(pids: Sequence[int]) -> bool:
    """Sleeps until the processes use under QUIET_SHARE of a core over a window; False if they
    were still busy after QUIET_LIMIT_SECONDS (the block then runs anyway, and is counted)."""
    start = time.perf_counter()
    while time.perf_counter() - start < QUIET_LIMIT_SECONDS:
        before = cpu_seconds(pids)
        time.sleep(QUIET_WINDOW_SECONDS)
        if cpu_seconds(pids) - before < QUIET_SHARE * QUIET_WINDOW_SECONDS:
            return True
    return False


class PassServer:
    """An `isp bench ARGS --passes-on-request` process: passes(n) runs n batch-1 passes, returns ms.
    `passes_run` and `passes_on_one_core` count them (the second None from builds before stop 61,
    which did not report it)."""

    def __init__(self, isp: str, bench_args: Sequence[str]):
        self.command = [isp, "bench", *bench_args, "--no-train", "--passes-on-request"]
        self.passes_run = 0
        self.passes_on_one_core: Optional[int] = 0
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.fail(f"answered '{line}' instead of 'ready'")

    def fail(self, problem: str) -> None:
        self.process.kill()
        tail = self.process.stderr.read().strip().splitlines()[-3:]
        sys.exit(f"interleave: {' '.join(self.command)}: {problem}: {' | '.join(tail)}")

    def passes(self, n: int) -> List[float]:
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()
        text, bar, count = self.process.stdout.readline().partition("|")
        times = [float(t) for t in text.split()]
        if len(times) != n:
            self.fail(f"answered {len(times)} times for {n} passes")
        if bar and not count.strip().isdigit():
            self.fail(f"answered '{count.strip()}' for the passes on one core")
        self.passes_run += n
        if self.passes_on_one_core is not None:
            self.passes_on_one_core = self.passes_on_one_core + int(count) if bar else None
        return times

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def timed_passes(run: Callable[[], object]) -> Callable[[int], List[float]]:
    """A function running `run` n times in this process, returning each call's time in ms."""
    def passes(n: int) -> List[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append(1000 * (time.perf_counter() - t0))
        return times
    return passes


def alternate(a: Callable[[int], List[float]], b: Callable[[int], List[float]], blocks: int,
              block: int, pids: Sequence[int], label: str = "") -> Dict[str, object]:
    """`blocks` blocks of `block` passes of a and of b (b first in odd blocks), each once the
    processes `pids` (those running a and b) are quiet; b/a figures."""
    times_a: List[float] = []
    times_b: List[float] = []
    ratios: List[float] = []
    busy_starts = 0
    def settled(run: Callable[[int], List[float]]) -> List[float]:
        nonlocal busy_starts
        busy_starts += not wait_until_quiet(pids)
        return run(block + 1)[1:]
    for i in range(blocks):
        if i % 2:
            tb = settled(b); ta = settled(a)
        else:
            ta = settled(a); tb = settled(b)
        times_a += ta
        times_b += tb
        ratios.append(statistics.median(tb) / statistics.median(ta))
        print(f"\r{label}block {i + 1}/{blocks}: b/a {ratios[-1]:.3f}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if busy_starts:
        print(f"{label}{busy_starts} blocks started with the processes still busy after {QUIET_LIMIT_SECONDS} s",
              file=sys.stderr)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"blocks": blocks, "passes_per_block": block,
            "a_ms_median": statistics.median(times_a), "b_ms_median": statistics.median(times_b),
            "ratio_b_vs_a": statistics.median(times_b) / statistics.median(times_a),
            "block_ratio_quartiles": [quartiles[0], quartiles[1], quartiles[2]], "busy_starts": busy_starts}


def one_core_count(server: PassServer) -> Optional[List[int]]:
    """The server's passes so far and how many ran on one core (None if it does not say)."""
    return None if server.passes_on_one_core is None else [server.passes_run, server.passes_on_one_core]


def one_core_share(server: PassServer, before: Optional[List[int]]) -> Optional[float]:
    """The share of the server's passes since `before` (one_core_count) that ran on one core."""
    now = one_core_count(server)
    if now is None or before is None or now[0] == before[0]:
        return None
    return (now[1] - before[1]) / (now[0] - before[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("isp_a")
    ap.add_argument("isp_b")
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--block", type=int, default=20, help="passes per block")
    ap.add_argument("--warmup", type=int, default=2, help="untimed blocks first")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        ap.error("give isp bench's arguments after --")
    a = ap.parse_args(argv[:argv.index("--")])
    args = argv[argv.index("--") + 1:]
    if a.blocks < 2 or a.block < 1:
        ap.error("--blocks must be >= 2 and --block >= 1")
    servers = [PassServer(a.isp_a, args), PassServer(a.isp_b, args)]
    pids = [s.process.pid for s in servers]
    alternate(servers[0].passes, servers[1].passes, a.warmup, a.block, pids, "warm-up ")
    before = [one_core_count(s) for s in servers]
    r = alternate(servers[0].passes, servers[1].passes, a.blocks, a.block, pids)
    shares = [one_core_share(s, b) for s, b in zip(servers, before)]
    for s in servers:
        s.close()
    q = r["block_ratio_quartiles"]
    print(f"A {r['a_ms_median']:.3f} ms, B {r['b_ms_median']:.3f} ms (medians of {a.blocks} x {a.block} passes each): "
          f"B/A {r['ratio_b_vs_a']:.3f}; per block {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f} (quartiles); passes on one core: "
          + ", ".join(f"{name} {'not reported' if x is None else f'{100 * x:.0f}%'}" for name, x in zip("AB", shares)))


if __name__ == "__main__":
    main()
