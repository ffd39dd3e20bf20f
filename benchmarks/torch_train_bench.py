"""PyTorch CPU training throughput of the reference models (random data).

  python benchmarks/torch_train_bench.py --arch resnet18 --width 0.5 --json

One step = forward + cross-entropy + backward + SGD(momentum 0.9, weight decay) update on a
fixed random batch (1x32x32 images by default). Warm-up steps are not timed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Dict, Optional

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ARCHS, build, standard_stem  # noqa: E402


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (e.g. after parallel work started)
        pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def train_throughput(arch: str, width: float, batch_size: int = 128, steps: int = 20,
                     warmup: int = 3, in_channels: int = 1, classes: int = 10,
                     input_size: int = 32, threads: int = 2, lr: float = 0.05,
                     weight_decay: float = 5e-4, seed: int = 0, stem: Optional[str] = None) -> Dict[str, object]:
    set_threads(threads)
    torch.manual_seed(seed)
    model = build(arch, width, in_channels, classes, stem or standard_stem(input_size))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch_size, in_channels, input_size, input_size)
    y = torch.randint(0, classes, (batch_size,))

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    step_times = []
    t0 = time.perf_counter()
    for _ in range(steps):
        s0 = time.perf_counter()
        loss = step()
        step_times.append(time.perf_counter() - s0)
    elapsed = time.perf_counter() - t0
    step_times.sort()
    return {
        "engine": "pytorch", "torch_version": torch.__version__, "arch": arch, "width": width,
        "batch_size": batch_size, "input_channels": in_channels, "input_size": input_size,
        "threads": threads, "warmup_steps": warmup, "steps": steps,
        "elapsed_s": elapsed, "step_ms_median": 1000 * step_times[len(step_times) // 2],
        "train_images_per_s": batch_size * steps / elapsed,
        "final_loss": loss, "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--in-channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = train_throughput(a.arch, a.width, a.batch_size, a.steps, a.warmup, a.in_channels,
                         a.classes, threads=a.threads, lr=a.lr, weight_decay=a.weight_decay)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{a.arch} width={a.width} batch={a.batch_size} threads={a.threads}: "
              f"{r['train_images_per_s']:.1f} images/s (median step {r['step_ms_median']:.1f} ms, "
              f"{a.steps} timed steps after {a.warmup} warm-up), peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
