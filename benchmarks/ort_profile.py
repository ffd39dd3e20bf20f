"""Per-operator batch-1 times of ONNX Runtime, to set beside `isp bench --profile`.

    python benchmarks/peers.py --arch mobilenetv2 --width 0.5 --keep-onnx /tmp/m.onnx   # the model
    taskset -c 1 python benchmarks/ort_profile.py /tmp/m.onnx --threads 1

Prints the unprofiled median latency, then each node's median kernel time over the profiled runs
(after a warm-up), in graph order, and their sum. The profiler's own cost shows in that sum: on
the Zen 5 it was 0.476 ms for a 0.370 ms pass, about 2 us per node, so compare per node only
after taking that off.
"""
import argparse
import collections
import json
import os
import time

import numpy as np
import onnxruntime as ort


def session(path, threads, profile):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = "/tmp/ort_profile"
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def node_times(path, threads, runs, warmup):
    """The unprofiled median pass (ms) and, in graph order, (node, operator, median us) over
    `runs` profiled passes after `warmup` ones."""
    plain = session(path, threads, profile=False)
    spec = plain.get_inputs()[0]
    x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in spec.shape], dtype=np.float32)
    for _ in range(warmup):
        plain.run(None, {spec.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plain.run(None, {spec.name: x})
        times.append(time.perf_counter() - start)

    profiled = session(path, threads, profile=True)
    for _ in range(warmup + runs):
        profiled.run(None, {spec.name: x})
    profile = profiled.end_profiling()
    events = json.load(open(profile))
    os.remove(profile)
    durations, kinds, order = collections.defaultdict(list), {}, []
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"][: -len("_kernel_time")]
            if name not in kinds:
                order.append(name)
                kinds[name] = e["args"].get("op_name", "")
            durations[name].append(e["dur"])
    nodes = []
    for name in order:
        d = sorted(durations[name][warmup:])
        nodes.append((name, kinds[name], d[len(d) // 2]))
    return sorted(times)[len(times) // 2] * 1e3, nodes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()
    median, nodes = node_times(args.model, args.threads, args.runs, args.warmup)
    print(f"median {median:.3f} ms unprofiled, {args.threads} thread(s)")
    for name, kind, us in nodes:
        print(f"{name:70s} {kind:18s} {us:6d} us")
    print(f"sum of the nodes' medians {sum(us for _, _, us in nodes)} us")


if __name__ == "__main__":
    main()
