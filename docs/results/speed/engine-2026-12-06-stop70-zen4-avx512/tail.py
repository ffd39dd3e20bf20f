"""Tail latency of batch-1 passes: BIN_A BIN_B ROUNDS PASSES -- bench args. Alternates the binaries
round by round; per run: median, mean, p90, p99 (ms) and passes on one core."""
import subprocess, sys, statistics
a, b, rounds, passes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
args = sys.argv[sys.argv.index("--") + 1:]
def run(binary):
    p = subprocess.Popen([binary, "bench"] + args + ["--passes-on-request"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    while p.stdout.readline().strip() != "ready": pass
    times, one = [], 0
    for _ in range(passes // 500):
        p.stdin.write("500\n"); p.stdin.flush()
        line = p.stdout.readline()
        t, _, n = line.partition("|")
        times += [float(x) for x in t.split()]; one += int(n)
    p.stdin.close(); p.wait()
    s = sorted(times)
    return statistics.median(s), statistics.mean(s), s[int(0.9 * len(s))], s[int(0.99 * len(s))], one / len(s)
for r in range(rounds):
    for name, binary in (("A", a), ("B", b)):
        m = run(binary)
        print(f"{name} median {m[0]:.3f} mean {m[1]:.3f} p90 {m[2]:.3f} p99 {m[3]:.3f} ms, on one core {100*m[4]:.1f}%", flush=True)
