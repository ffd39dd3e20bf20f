"""Two isp builds A/B on batch-1 passes requested one at a time with idle gaps between them, as a
server sees them at a low request rate: between passes the pool's worker goes to sleep, so every
pass starts by waking it (and Linux chooses where it runs). A and B alternate by process, the
order flipped every round; each process prints, after `isp bench MODEL --random-inputs
--passes-on-request` is ready, its median pass, 90th percentile, slowest pass, and how many passes
took over 1.5x the faster build's median that round.

  python3 benchmarks/sparse_requests.py A/isp B/isp MODEL [--requests 200] [--gap-ms 20] [--rounds 4]

Stop 79 (AMD Zen 5, AVX-512, 2026-12-07; docs/RESULTS.md "Stop 79"): the shipped models at 20 ms
gaps ran 0.6-2.1 ms a pass against 0.2-0.5 back to back, and the worker moving off its caller's CPU
(SpinPool.c, `leave_caller`) halved the 90th percentile.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from typing import List


def passes(isp: str, model: str, requests: int, gap_seconds: float) -> List[float]:
    """Each pass's milliseconds, one requested every `gap_seconds` after the last one ended."""
    process = subprocess.Popen([isp, "bench", model, "--random-inputs", "--no-train", "--passes-on-request"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               bufsize=1)
    assert process.stdin and process.stdout
    while True:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"sparse_requests.py: {isp} bench {model} ended before it was ready")
        if line.strip() == "ready":
            break
    times = []
    for _ in range(requests):
        time.sleep(gap_seconds)
        process.stdin.write("1\n")
        process.stdin.flush()
        times.append(float(process.stdout.readline().split("|")[0].split()[0]))
    process.stdin.close()
    process.wait()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("isp_a")
    ap.add_argument("isp_b")
    ap.add_argument("model")
    ap.add_argument("--requests", type=int, default=200, help="passes per process (default 200)")
    ap.add_argument("--gap-ms", type=float, default=20, help="idle time before each request (default 20)")
    ap.add_argument("--rounds", type=int, default=4, help="pairs of processes (default 4)")
    a = ap.parse_args()
    if a.requests < 10 or a.gap_ms < 0 or a.rounds < 1:
        ap.error("--requests must be >= 10, --gap-ms >= 0, --rounds >= 1")
    for r in range(a.rounds):
        order = [("A", a.isp_a), ("B", a.isp_b)]
        if r % 2:
            order.reverse()
        result = {name: passes(isp, a.model, a.requests, a.gap_ms / 1000) for name, isp in order}
        faster = min(statistics.median(t) for t in result.values())
        for name in ("A", "B"):
            t = sorted(result[name])
            print(f"round {r + 1} {name}: median {statistics.median(t):.3f} ms, p90 {t[int(0.9 * len(t))]:.3f}, "
                  f"max {t[-1]:.3f}, over 1.5x the faster median {sum(x > 1.5 * faster for x in t)} of {len(t)}",
                  flush=True)


if __name__ == "__main__":
    main()
