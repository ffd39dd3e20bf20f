#!/usr/bin/env python3
"""Writes Fashion-MNIST (the IDX files of Debian's dataset-fashion-mnist) as a class folder data
set, DIR/train/<class>/<n>.png and DIR/val/<class>/<n>.png, so `isp train --dataset folder` can be
compared with the IDX path (`--dataset fashion-mnist`).

    /work/venv/bin/python benchmarks/write_folder.py DIR [--format png|jpeg] [--limit N]

Images are zero-padded from 28 x 28 to 32 x 32 as the IDX reader pads them, so with
`--input-size 32 --input-channels 1` (the CIFAR-style recipe: Resize(32) and CenterCrop(32) leave
them as they are) the folder path sees the same pixels as the IDX path. Class folders are named
"<label>-<name>" so that their sorted order is the label order.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--format", choices=["png", "jpeg"], default="png")
    parser.add_argument("--limit", type=int, help="first N images of each split")
    args = parser.parse_args()
    for split, prefix in [("train", "train"), ("val", "t10k")]:
        images = read_idx(os.path.join(args.source, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(args.source, f"{prefix}-labels-idx1-ubyte.gz"))
        n = len(labels) if args.limit is None else min(args.limit, len(labels))
        for label, name in enumerate(NAMES):
            os.makedirs(os.path.join(args.out, split, f"{label}-{name}"), exist_ok=True)
        for i in range(n):
            padded = np.zeros((32, 32), dtype=np.uint8)
            padded[2:30, 2:30] = images[i]
            folder = os.path.join(args.out, split, f"{labels[i]}-{NAMES[labels[i]]}")
            extension = "png" if args.format == "png" else "jpg"
            # Zero-padded indices: the file order inside a class is the IDX order.
            path = os.path.join(folder, f"{i:05d}.{extension}")
            if args.format == "png":
                Image.fromarray(padded).save(path)
            else:
                Image.fromarray(padded).save(path, quality=95)
        print(f"{split}: {n} images in {os.path.join(args.out, split)}")


if __name__ == "__main__":
    main()
