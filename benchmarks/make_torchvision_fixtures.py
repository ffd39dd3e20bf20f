"""Fixtures for the torchvision equality tests (Tests/InstanceSparsityTests/TorchvisionTests.swift).

  python benchmarks/make_torchvision_fixtures.py [-o Tests/InstanceSparsityTests/Fixtures]

torchvision's resnet18, mobilenet_v2 and vgg16_bn (1000 classes) get weights from a counter-based
generator that the Swift test implements identically, so no weights are committed: only the
logits torchvision computes for one generated 3x224x224 image, in eval mode (running batch-norm
statistics, no dropout), written to torchvision_logits.json.

The generator, for the tensor with state_dict name NAME and element k (flat index):
    h = FNV-1a 64 of NAME's UTF-8 bytes
    z = h + (k + 1) * 0x9E3779B97F4A7C15                        (mod 2**64)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB; z ^= z >> 31
    u = (z >> 40) / 2**24                                          (in [0, 1), exact in float32)
and the value, computed in float64 and rounded once to float32:
    convolution and linear weights  (2u - 1) * sqrt(6 / fan_in)   (Kaiming-uniform variance 2/fan_in)
    convolution and linear biases   0.1 * (2u - 1)
    batch norm weight               0.5 + u
    batch norm bias                 0.2 * (2u - 1)
    batch norm running_mean         0.2 * (2u - 1)
    batch norm running_var          0.5 + 1.5 * u
    the input image (NAME "input")  (2u - 1) * sqrt(3)
fan_in = input channels per group * kernel height * kernel width (linear: in_features).

It also converts a small model with `convert.py from-torchvision` (mobilenet_v2 width_mult 0.25,
10 classes, the same generated weights) into mobilenet_v2_w025.safetensors, with torchvision's
logits for the same image: the Swift test loads the converted file as a user would.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


def fnv1a64(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniforms(name: str, count: int) -> np.ndarray:
    """u in [0, 1) for elements 0..<count of the tensor NAME (float64, exact 24-bit values)."""
    k = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def generated(name: str, shape, kind: str, fan_in: int = 1) -> torch.Tensor:
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniforms(name, n)
    if kind == "weight":
        v = (2.0 * u - 1.0) * math.sqrt(6.0 / fan_in)
    elif kind == "bias":
        v = 0.1 * (2.0 * u - 1.0)
    elif kind == "bn_weight":
        v = 0.5 + u
    elif kind in ("bn_bias", "running_mean"):
        v = 0.2 * (2.0 * u - 1.0)
    elif kind == "running_var":
        v = 0.5 + 1.5 * u
    elif kind == "input":
        v = (2.0 * u - 1.0) * math.sqrt(3.0)
    else:
        raise ValueError(kind)
    return torch.from_numpy(v.astype(np.float32).reshape(tuple(shape)))


def fill(model: nn.Module) -> None:
    """Every parameter and batch-norm statistic from the generator."""
    with torch.no_grad():
        for prefix, m in model.named_modules():
            def name(n: str) -> str:
                return f"{prefix}.{n}" if prefix else n
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(generated(name("weight"), m.weight.shape, "weight", fan_in))
                if m.bias is not None:
                    m.bias.copy_(generated(name("bias"), m.bias.shape, "bias"))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(generated(name("weight"), m.weight.shape, "weight", m.in_features))
                m.bias.copy_(generated(name("bias"), m.bias.shape, "bias"))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(generated(name("weight"), m.weight.shape, "bn_weight"))
                m.bias.copy_(generated(name("bias"), m.bias.shape, "bn_bias"))
                m.running_mean.copy_(generated(name("running_mean"), m.running_mean.shape, "running_mean"))
                m.running_var.copy_(generated(name("running_var"), m.running_var.shape, "running_var"))
    model.eval()


def logits(model: nn.Module, size: int) -> list:
    x = generated("input", (1, 3, size, size), "input")
    with torch.inference_mode():
        return [float(v) for v in model(x).flatten()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "..", "Tests", "InstanceSparsityTests", "Fixtures"))
    a = ap.parse_args()
    os.makedirs(a.output, exist_ok=True)
    torch.set_num_threads(2)
    size = 224
    result = {"torch": torch.__version__, "torchvision": torchvision.__version__, "input_size": size, "models": {}}
    for arch in ("resnet18", "mobilenet_v2", "vgg16_bn"):
        model = getattr(torchvision.models, arch)(num_classes=1000)
        fill(model)
        y = logits(model, size)
        result["models"][arch] = {"classes": 1000, "logits": y}
        print(f"{arch}: logits max |y| {max(abs(v) for v in y):.3f}, first {y[:3]}")

    # A small converted checkpoint, through the converter's command line.
    small = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
    fill(small)
    out = os.path.join(a.output, "mobilenet_v2_w025.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "weights.pth")
        torch.save(small.state_dict(), pth)
        subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), "from-torchvision", "mobilenet_v2", pth,
                        "--width", "0.25", "-o", out], check=True, stdout=subprocess.DEVNULL)
    result["converted"] = {"file": os.path.basename(out), "arch": "mobilenet_v2", "width": 0.25, "classes": 10,
                           "logits": logits(small, size)}
    with open(os.path.join(a.output, "torchvision_logits.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {a.output}/torchvision_logits.json and {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
