"""Fixtures for the slimmed-network equality tests (Tests/InstanceSparsityTests/ImageNetVariantTests.swift).

  python benchmarks/make_slimmed_fixtures.py [-o Tests/InstanceSparsityTests/Fixtures]

Slimmed networks (`isp slim`: a channel count of its own for some maps) of all three
architectures, MobileNetV2 in both stems, with random per-map counts (one map cut to a single
channel) and weights from the counter-based generator of make_torchvision_fixtures.py (which the
Swift test repeats bit for bit). Each goes through convert.py as a user's file would: written
with the "channels" metadata by its saver, read back by `model_from_safetensors` (a strict
load into torch_models' network at the recorded counts), and the reloaded model's logits for the
generated image (evaluation mode, no normalisation) go into slimmed_logits.json. The smallest file,
VGG16's, is committed too (slimmed_vgg16.safetensors), for the Swift test to load as isp would.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from convert import make_metadata, model_from_safetensors, save_safetensors  # noqa: E402
from make_torchvision_fixtures import fill, generated  # noqa: E402
from torch_models import build, slimmable_maps  # noqa: E402

# (architecture, stem, width, input size): small, with every kind of slimmable map.
VARIANTS = [("vgg16", "cifar", 0.125, 32), ("resnet18", "cifar", 0.125, 32),
            ("mobilenetv2", "cifar", 0.25, 32), ("mobilenetv2", "imagenet", 0.25, 64)]
COMMITTED = "vgg16"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "..", "Tests", "InstanceSparsityTests", "Fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.RandomState(17)
    result = {"torch": torch.__version__, "models": []}
    for arch, stem, width, size in VARIANTS:
        maps = slimmable_maps(arch, width, stem)
        channels = {name: int(rng.randint(1, full + 1)) for name, full in maps.items()}
        channels[list(maps)[len(maps) // 2]] = 1
        model = build(arch, width, 3, 10, stem, channels)
        fill(model)
        meta = make_metadata(arch, width, 3, 10, size, [0.0] * 3, [1.0] * 3, "generated", stem, channels=channels)
        name = f"slimmed_{arch}.safetensors"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(a.output, name) if arch == COMMITTED else os.path.join(tmp, name)
            save_safetensors(model, path, meta)
            reloaded, info = model_from_safetensors(path)  # strict, at the recorded counts
            assert info["channels"] == channels, (info["channels"], channels)
        x = generated("input", (1, 3, size, size), "input")
        with torch.inference_mode():
            y = reloaded(x).flatten()
            assert torch.equal(y, model(x).flatten())
        entry = {"arch": arch, "stem": stem, "width": width, "input_size": size, "classes": 10,
                 "channels": channels, "logits": [float(v) for v in y]}
        if arch == COMMITTED:
            entry["file"] = name
        result["models"].append(entry)
        print(f"{arch} {stem}: {len(channels)} slimmed maps, logits max |y| {float(y.abs().max()):.3f}")
    with open(os.path.join(a.output, "slimmed_logits.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    committed = os.path.join(a.output, f"slimmed_{COMMITTED}.safetensors")
    print(f"wrote {a.output}/slimmed_logits.json and {committed} ({os.path.getsize(committed)} bytes)")


if __name__ == "__main__":
    main()
