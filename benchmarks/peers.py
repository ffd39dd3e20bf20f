"""Batch-1 CPU inference latency: PyTorch eager vs ONNX Runtime (vs the Swift `isp` tool).

  python benchmarks/peers.py --arch resnet18 --width 0.5
  python benchmarks/peers.py --checkpoint model.safetensors --isp .build/release/isp --prune POLICY --alpha 0.5
  python benchmarks/peers.py --arch vgg16 --width 0.5 --train --json
  python benchmarks/peers.py --arch resnet18 --width 0.5 --isp .build/release/isp --rounds 5
  python benchmarks/peers.py --arch resnet18 --input-size 224 --in-channels 3 --classes 1000 \
      --isp .build/release/isp --rounds 5          # torchvision's resnet18 (ImageNet stem)

Latency = wall time of one forward pass of a 1xCxSxS input, median and p90 over --runs runs
after --warmup untimed runs, 2 threads. Ratios in the table are median(engine) / median(reference):
below 1 means faster than the reference. The training ratio is isp img/s / torch img/s (above 1:
isp trains faster).

All engines run the same weights: without --checkpoint the torch model (torchvision's own for the
ImageNet stem where it can express the network) gets random weights and batch-norm statistics,
and isp benchmarks that model written as safetensors (`isp bench FILE --random-inputs`).
Peak memory: isp's is its whole bench process; the python process's peak is reported after the
PyTorch runs and again after ONNX Runtime's (which includes PyTorch's).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import make_metadata, model_from_safetensors, randomize_bn, save_safetensors  # noqa: E402
from interleave import PassServer, alternate, one_core_count, one_core_share, timed_passes  # noqa: E402
from placement import Placement  # noqa: E402
from torch_models import ARCHS, STEMS, build, count_macs, count_params, standard_stem  # noqa: E402
from torch_train_bench import set_threads, train_throughput  # noqa: E402

ISP_KEYS = ("latency_ms_median", "latency_ms_p90", "latency_passes_on_one_core", "throughput_images_per_s",
            "train_images_per_s")


def stats_ms(times_s: List[float]) -> Dict[str, float]:
    a = np.asarray(times_s) * 1000.0
    return {"latency_ms_median": float(np.median(a)), "latency_ms_p90": float(np.percentile(a, 90)),
            "latency_ms_min": float(a.min()), "latency_ms_mean": float(a.mean()), "runs": len(a)}


def time_fn(fn, runs: int, warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return stats_ms(times)


def bench_torch(model: torch.nn.Module, x: torch.Tensor, runs: int, warmup: int) -> Dict[str, object]:
    model.eval()
    with torch.inference_mode():
        r = time_fn(lambda: model(x), runs, warmup)
    r.update(engine="pytorch-eager", version=torch.__version__, cpu_capability=torch.backends.cpu.get_cpu_capability())
    return r


def export_onnx(model: torch.nn.Module, x: torch.Tensor, path: str) -> None:
    kwargs = dict(opset_version=17, input_names=["input"], output_names=["logits"],
                  do_constant_folding=True)
    model.eval()
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    try:  # torch >= 2.5 has `dynamo`; newer releases default to the dynamo exporter.
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, (x,), path, **kwargs)


def load_onnxruntime(path: str, threads: int):
    """An ONNX Runtime session on `path` as every benchmark here runs it: `threads` intra-op
    threads, sequential, every graph optimisation, the CPU provider."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def onnxruntime_session(model: torch.nn.Module, x: torch.Tensor, threads: int, keep_onnx: Optional[str] = None):
    """The model exported to ONNX and loaded; returns (run, result fields)."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp:
        path = keep_onnx or os.path.join(tmp, "model.onnx")
        export_onnx(model, x, path)
        sess = load_onnxruntime(path, threads)
    feed = {sess.get_inputs()[0].name: x.numpy()}
    out = sess.run(None, feed)[0]
    with torch.inference_mode():
        ref = model(x).numpy()
    return (lambda: sess.run(None, feed)), dict(engine="onnxruntime", version=ort.__version__,
                                                 max_abs_diff_vs_torch=float(np.abs(out - ref).max()))


def isp_model_args(a: argparse.Namespace) -> List[str]:
    """isp bench's model, pruning and extra arguments."""
    args = [a.checkpoint] if a.checkpoint else [a.weights_file, "--random-inputs"]
    if a.prune:
        args += ["--prune", a.prune]
    if a.alpha is not None:
        args += ["--alpha", repr(a.alpha)]
    return args + shlex.split(a.isp_args)


def run_isp(a: argparse.Namespace, arch: str, width: float) -> Dict[str, object]:
    """Run `isp bench ... --json`; returns a result dict, or one with an "error" key."""
    cmd = [a.isp, "bench", *isp_model_args(a), "--json"]
    if not a.train:
        cmd.append("--no-train")
    res: Dict[str, object] = {"engine": "isp" + (f" ({a.prune}, alpha {a.alpha})" if a.prune else ""),
                              "command": " ".join(shlex.quote(c) for c in cmd)}
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.isp_timeout)
    except FileNotFoundError:
        res["error"] = f"isp binary not found: {a.isp}"
        return res
    except PermissionError:
        res["error"] = f"isp binary is not executable: {a.isp}"
        return res
    except subprocess.TimeoutExpired:
        res["error"] = f"isp bench timed out after {a.isp_timeout} s"
        return res
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        res["error"] = f"isp bench exited with status {p.returncode}: " + " | ".join(tail)
        return res
    data = None
    text = p.stdout.strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # tolerate log lines before the JSON object
        start = text.find("{")
        while start >= 0 and data is None:
            try:
                data = json.loads(text[start:])
            except json.JSONDecodeError:
                start = text.find("{", start + 1)
    if not isinstance(data, dict):
        res["error"] = "isp bench output is not a JSON object: " + text[:200]
        return res
    res["raw"] = data
    for k in ISP_KEYS:
        if isinstance(data.get(k), (int, float)):
            res[k] = float(data[k])
    if "latency_ms_median" not in res:
        res["error"] = "isp bench JSON lacks latency_ms_median (keys: %s)" % sorted(data)
    return res


def fmt(v: Optional[float], spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=ARCHS)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--checkpoint", help="our safetensors checkpoint (overrides --arch/--width)")
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--stem", choices=STEMS, help="default: imagenet above 64x64 inputs")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    ap.add_argument("--keep-onnx", metavar="PATH", help="write the exported ONNX model here")
    ap.add_argument("--isp", metavar="PATH", help="path to the Swift isp binary")
    ap.add_argument("--prune", metavar="POLICY", help="pruning policy passed to isp bench")
    ap.add_argument("--alpha", type=float, help="pruning alpha passed to isp bench")
    ap.add_argument("--isp-args", default="", help="extra arguments for isp bench (one string)")
    ap.add_argument("--isp-timeout", type=float, default=1800)
    ap.add_argument("--train", action="store_true", help="also measure torch training throughput")
    ap.add_argument("--train-batch-size", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure ONNX Runtime, isp (and with --train, torch training) this many times, "
                         "alternating; reports each round's ratios and their medians (the machine's "
                         "speed drifts)")
    ap.add_argument("--interleave", type=int, metavar="K",
                    help="also alternate blocks of K passes of ONNX Runtime and isp (--runs passes each; "
                         "benchmarks/interleave.py): the fair figure on a machine whose speed drifts")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.runs < 200:
        ap.error("--runs must be >= 200")
    if a.interleave is not None and not (1 <= a.interleave <= a.runs // 2 and a.isp and not a.no_onnx):
        ap.error("--interleave K needs --isp, ONNX Runtime and 1 <= K <= --runs / 2")
    if not a.checkpoint and not a.arch:
        ap.error("give --arch (with --width) or --checkpoint")

    set_threads(a.threads)
    if a.checkpoint:
        model, info = model_from_safetensors(a.checkpoint)
        arch, width, in_ch, classes, size, stem = (info["arch"], info["width"], info["in_channels"],
                                                   info["classes"], info["input_size"], info["stem"])
    else:
        arch, width, in_ch, classes, size = a.arch, a.width, a.in_channels, a.classes, a.input_size
        stem = a.stem or standard_stem(size)
        torch.manual_seed(0)
        model = build(arch, width, in_ch, classes, stem)
        randomize_bn(model)
        if a.isp:  # the same weights for isp
            a.weights_file = os.path.join(tempfile.mkdtemp(prefix="peers-"), "model.safetensors")
            # Random weights timed on random inputs: no data set, so no normalisation (identity).
            save_safetensors(model, a.weights_file, make_metadata(arch, width, in_ch, classes, size, [0.0] * in_ch,
                                                                  [1.0] * in_ch, "none (random weights)", stem=stem))
    model.eval()
    macs = count_macs(model, in_ch, size)
    x = torch.randn(1, in_ch, size, size, generator=torch.Generator().manual_seed(1))

    out: Dict[str, object] = {"arch": arch, "width": width, "stem": stem, "input_channels": in_ch,
                              "torch_module": type(model).__module__ + "." + type(model).__name__,
                              "input_size": size, "classes": classes, "threads": a.threads,
                              "checkpoint": a.checkpoint, "params": count_params(model),
                              "macs": macs["total"], "results": []}
    results: List[Dict[str, object]] = out["results"]  # type: ignore[assignment]
    results.append(bench_torch(model, x, a.runs, a.warmup))
    out["python_peak_rss_mb_after_pytorch"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ort_run = None
    if not a.no_onnx:
        try:
            ort_run, ort_fields = onnxruntime_session(model, x, a.threads, a.keep_onnx)
        except Exception as e:  # noqa: BLE001 - report and carry on
            print(f"warning: ONNX Runtime benchmark failed: {type(e).__name__}: {e}", file=sys.stderr)
            out["onnxruntime_error"] = f"{type(e).__name__}: {e}"
    isp = None
    # Each round times ORT, then isp, then torch training; the table shows the last round whose
    # isp run succeeded.
    rounds: List[Dict[str, float]] = []
    train_rounds: List[Dict[str, float]] = []
    ort_r = None
    torch_train = None
    # Each round's and the interleaved run's vCPU placement before and after (ns; see placement.py).
    placement = Placement()
    for _ in range(max(1, a.rounds)):
        placed_before = placement.round_trip_ns()
        ort_now = None
        if ort_run:
            ort_now = time_fn(ort_run, a.runs, a.warmup)
            ort_now.update(ort_fields)
        isp_now = run_isp(a, arch, width) if a.isp else None
        if isp_now and "error" in isp_now:
            print(f"warning: isp benchmark failed ({isp_now['command']}): {isp_now['error']}", file=sys.stderr)
            isp = isp if isp and "error" not in isp else isp_now
            ort_r = ort_r or ort_now
            break
        ort_r, isp = ort_now, isp_now
        if ort_r and isp:
            rounds.append({"onnxruntime_ms": ort_r["latency_ms_median"], "isp_ms": isp["latency_ms_median"],
                           "ratio": isp["latency_ms_median"] / ort_r["latency_ms_median"],
                           "isp_passes_on_one_core": isp.get("latency_passes_on_one_core"),
                           "round_trip_ns": [placed_before, placement.round_trip_ns()]})
        if a.train:
            torch_train = train_throughput(arch, width, a.train_batch_size, a.train_steps, 2, in_ch, classes,
                                           size, threads=a.threads, stem=stem)
            if isp and "train_images_per_s" in isp:
                train_rounds.append({"torch_images_per_s": torch_train["train_images_per_s"],
                                     "isp_images_per_s": isp["train_images_per_s"],
                                     "ratio": isp["train_images_per_s"] / torch_train["train_images_per_s"]})
    if a.interleave and ort_run:
        placed_before = placement.round_trip_ns()
        server = PassServer(a.isp, isp_model_args(a))
        blocks = max(2, a.runs // a.interleave)
        pids = [os.getpid(), server.process.pid]
        alternate(timed_passes(ort_run), server.passes, max(2, a.warmup // a.interleave), a.interleave, pids, "warm-up ")
        before = one_core_count(server)
        r = alternate(timed_passes(ort_run), server.passes, blocks, a.interleave, pids, "ONNX Runtime (a) / isp (b) ")
        on_one_core = one_core_share(server, before)
        server.close()
        out["interleaved"] = {"onnxruntime_ms_median": r["a_ms_median"], "isp_ms_median": r["b_ms_median"],
                              "ratio_isp_vs_onnxruntime": r["ratio_b_vs_a"], "blocks": r["blocks"],
                              "passes_per_block": r["passes_per_block"],
                              "block_ratio_quartiles": r["block_ratio_quartiles"], "busy_starts": r["busy_starts"],
                              "isp_passes_on_one_core": on_one_core,
                              "round_trip_ns": [placed_before, placement.round_trip_ns()]}
    out["python_peak_rss_mb_after_onnxruntime"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if ort_r:
        results.append(ort_r)
    if isp:
        out["isp"] = isp
        if "error" not in isp:
            results.append(isp)
    if rounds:
        out["rounds"] = rounds
        out["median_ratio_isp_vs_onnxruntime"] = float(np.median([r["ratio"] for r in rounds]))

    ref = {r["engine"]: r["latency_ms_median"] for r in results}
    for r in results:
        med = r["latency_ms_median"]
        r["ratio_vs_onnxruntime"] = med / ref["onnxruntime"] if "onnxruntime" in ref else None
        r["ratio_vs_pytorch"] = med / ref["pytorch-eager"]

    if a.train and torch_train is None:  # the isp run failed before the first round's torch training
        torch_train = train_throughput(arch, width, a.train_batch_size, a.train_steps, 2, in_ch, classes,
                                       size, threads=a.threads, stem=stem)
    if torch_train:
        t = torch_train
        tr = {"torch_train_images_per_s": t["train_images_per_s"], "batch_size": a.train_batch_size,
              "torch_peak_rss_mb": t["peak_rss_mb"]}
        if isp and "train_images_per_s" in isp:
            tr["isp_train_images_per_s"] = isp["train_images_per_s"]
            tr["ratio_isp_vs_torch"] = isp["train_images_per_s"] / t["train_images_per_s"]
        if train_rounds:
            tr["rounds"] = train_rounds
            tr["median_ratio_isp_vs_torch"] = float(np.median([r["ratio"] for r in train_rounds]))
        out["train"] = tr

    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{arch} width={width} ({out['torch_module']}) input={in_ch}x{size}x{size} classes={classes} "
          f"params={out['params']:,} MACs={out['macs'] / 1e6:.2f}M threads={a.threads} "
          f"runs={a.runs} (batch 1)")
    print(f"{'engine':34s} {'median ms':>10s} {'p90 ms':>10s} {'vs ORT':>8s} {'vs PyTorch':>10s}")
    for r in results:
        print(f"{r['engine']:34s} {r['latency_ms_median']:10.3f} {r['latency_ms_p90']:10.3f} "
              f"{fmt(r['ratio_vs_onnxruntime'], '.2f'):>8s} {r['ratio_vs_pytorch']:10.2f}")
    for r in results:
        if "max_abs_diff_vs_torch" in r:
            print(f"(onnxruntime max |logit diff| vs torch: {r['max_abs_diff_vs_torch']:.2e})")
    if isp and "error" in isp:
        print(f"isp: FAILED - {isp['error']}")
    isp_peak = isp.get("raw", {}).get("peak_rss_mb") if isp else None
    print(f"peak memory: isp bench process {fmt(isp_peak, '.0f')} MB; python process "
          f"{out['python_peak_rss_mb_after_pytorch']:.0f} MB after PyTorch, "
          f"{out['python_peak_rss_mb_after_onnxruntime']:.0f} MB after ONNX Runtime too")
    if len(rounds) > 1:
        print("isp / ORT per round (the table shows the last): "
              + ", ".join(f"{r['ratio']:.2f} ({r['isp_ms']:.3f} / {r['onnxruntime_ms']:.3f} ms"
                          + (f", isp {100 * r['isp_passes_on_one_core']:.0f}% on one core" if r["isp_passes_on_one_core"] is not None else "")
                          + ", vCPUs {:.0f}/{:.0f} ns".format(*r["round_trip_ns"]) + ")" for r in rounds)
              + f"; median {out['median_ratio_isp_vs_onnxruntime']:.2f}")
    if "interleaved" in out:
        r = out["interleaved"]
        q = r["block_ratio_quartiles"]
        print(f"interleaved ({r['blocks']} blocks of {r['passes_per_block']} passes each): isp {r['isp_ms_median']:.3f} ms, "
              f"ONNX Runtime {r['onnxruntime_ms_median']:.3f} ms, isp / ORT {r['ratio_isp_vs_onnxruntime']:.2f} "
              f"(per block {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}, quartiles)"
              + ("" if r["isp_passes_on_one_core"] is None else f", isp {100 * r['isp_passes_on_one_core']:.0f}% on one core")
              + ", vCPUs {:.0f}/{:.0f} ns".format(*r["round_trip_ns"]))
    if "train" in out:
        tr = out["train"]
        line = f"train (batch {tr['batch_size']}): torch {tr['torch_train_images_per_s']:.1f} img/s"
        if "isp_train_images_per_s" in tr:
            line += (f", isp {tr['isp_train_images_per_s']:.1f} img/s, "
                     f"isp/torch {tr['ratio_isp_vs_torch']:.2f}")
        elif a.isp:
            line += ", isp: no train_images_per_s"
        print(line)
        if len(tr.get("rounds", [])) > 1:
            print("training isp / torch per round (the line above shows the last): "
                  + ", ".join(f"{r['ratio']:.2f} ({r['isp_images_per_s']:.0f} / {r['torch_images_per_s']:.0f})"
                              for r in tr["rounds"])
                  + f"; median {tr['median_ratio_isp_vs_torch']:.2f}")


if __name__ == "__main__":
    main()
