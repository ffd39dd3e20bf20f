#!/usr/bin/env python3
"""Writes Fashion-MNIST test image INDEX (default 0) as a 28x28 gray PNG, with Python's standard
library only (no PIL), for tests and benchmarks that need an image file:
    python3 scripts/fashion_png.py OUT.png [INDEX] [IDX_DIR]
"""
import gzip
import struct
import sys
import zlib

out = sys.argv[1]
index = int(sys.argv[2]) if len(sys.argv) > 2 else 0
directory = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist"
with gzip.open(f"{directory}/t10k-images-idx3-ubyte.gz") as f:
    pixels = f.read()[16 + 784 * index:16 + 784 * (index + 1)]
raw = b"".join(b"\x00" + pixels[y * 28:(y + 1) * 28] for y in range(28))


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


with open(out, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
