#!/usr/bin/env python3
"""Writes a class folder of synthetic photo-sized JPEGs for loader benchmarks: DIR/train/<class>/
and DIR/val/<class>/, 500 x 375 images (ImageNet's most common size) of smooth colour fields,
edges and noise, so they compress to about the size of photographs (30-60 KB at quality 90).

    /work/venv/bin/python benchmarks/make_synthetic_folder.py DIR --train 3000 --val 500 [--classes 10]
"""
import argparse
import os

import numpy as np
from PIL import Image


def image(rng, width, height):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.zeros((height, width, 3), dtype=np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.005, 0.05), rng.uniform(0.005, 0.05), rng.uniform(0, 6.3)
        out[..., c] = 128 + 80 * np.sin(fx * x + fy * y + phase)
    for _ in range(6):  # rectangles: sharp edges, as objects give
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        out[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.uniform(0, 255, size=3)
    out += rng.normal(0, 12, size=out.shape)  # texture
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--size", default="500x375")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    rng = np.random.default_rng(0)
    total = 0
    for split, count in [("train", args.train), ("val", args.val)]:
        for i in range(count):
            folder = os.path.join(args.out, split, f"class{i % args.classes:03d}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{i:07d}.jpg")
            image(rng, width, height).save(path, quality=90)
            total += os.path.getsize(path)
    print(f"{args.train} + {args.val} images, {total / 2**20:.0f} MB, in {args.out}")


if __name__ == "__main__":
    main()
