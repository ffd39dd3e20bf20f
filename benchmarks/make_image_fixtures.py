#!/usr/bin/env python3
"""Writes the image fixtures of ImageTests: small PNG and JPEG files of every kind the folder
loader reads, what PIL decodes each to (torchvision's default loader: Image.open(f).convert('RGB')
or convert('L')), and what torchvision's evaluation transform and resized_crop make of them.

    /work/venv/bin/python benchmarks/make_image_fixtures.py

Output: Tests/InstanceSparsityTests/Fixtures/images/ with the image files, raw references
(<name>.<mode>.u8: rows of interleaved bytes; <name>.<case>.u8: the transform's output before
ToTensor, C x H x W bytes, checked here to give ToTensor's floats exactly as byte / 255) and
manifest.json describing them.
"""
import io
import json
import os
import struct
import warnings
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "InstanceSparsityTests", "Fixtures", "images")
rng = np.random.default_rng(15)


def pattern(h, w, channels, maximum=255):
    """Smooth gradients, a ripple and some noise: every resampling weight matters."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        v = 0.5 + 0.25 * np.sin(x / (3.0 + c) + y / 5.0) + 0.2 * (x / w - y / h) * (1 if c % 2 else -1)
        v += rng.normal(0, 0.06, size=(h, w))
        planes.append(np.clip(v, 0, 1) * maximum)
    return np.rint(np.stack(planes, axis=-1)).astype(np.uint16 if maximum > 255 else np.uint8)


# --- a small PNG encoder: PIL cannot write 16-bit RGB/RGBA/LA, low bit depths or Adam7 ---

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(samples, color_type, depth, palette=None, trns=None, interlace=False):
    """samples: H x W x C array of sample values (palette indices for color type 3)."""
    h, w = samples.shape[:2]
    samples = samples.reshape(h, w, -1)

    def rows_of(image):
        out = b""
        for row in image:
            flat = row.reshape(-1)
            if depth == 16:
                data = flat.astype(">u2").tobytes()
            elif depth == 8:
                data = flat.astype(np.uint8).tobytes()
            else:  # pack 1, 2 or 4 bits per sample, most significant first
                per = 8 // depth
                padded = np.concatenate([flat, np.zeros((-len(flat)) % per, dtype=flat.dtype)]).astype(np.uint8)
                data = bytes(
                    sum(int(v) << (8 - depth * (k + 1)) for k, v in enumerate(padded[i:i + per]))
                    for i in range(0, len(padded), per))
            out += b"\x00" + data  # filter type None
        return out

    if interlace:  # Adam7: seven passes over sub-lattices
        raw = b""
        for y0, x0, dy, dx in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += rows_of(sub)
    else:
        raw = rows_of(samples)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    files = {}

    h, w = 29, 37  # odd sizes: the centre crop offsets round half to even
    rgb8, rgb16 = pattern(h, w, 3), pattern(h, w, 3, 65535)
    gray8, alpha8 = pattern(h, w, 1), pattern(h, w, 1)
    gray16 = pattern(h, w, 1, 1023)  # mostly above 255: PIL clips 16-bit gray at 255
    alpha16 = pattern(h, w, 1, 65535)
    palette = pattern(1, 16, 3)[0]
    indices = (pattern(h, w, 1)[..., 0] // 16).astype(np.uint8)
    files["png_gray8.png"] = png_bytes(gray8, 0, 8)
    files["png_gray16.png"] = png_bytes(gray16, 0, 16)
    files["png_gray1.png"] = png_bytes(gray8 // 128, 0, 1)
    files["png_gray2.png"] = png_bytes(gray8 // 64, 0, 2)
    files["png_gray4.png"] = png_bytes(gray8 // 16, 0, 4)
    files["png_gray_trns.png"] = png_bytes(gray8, 0, 8, trns=struct.pack(">H", int(gray8[0, 0, 0])))
    files["png_gray_alpha8.png"] = png_bytes(np.concatenate([gray8, alpha8], -1), 4, 8)
    files["png_gray_alpha16.png"] = png_bytes(np.concatenate([pattern(h, w, 1, 65535), alpha16], -1), 4, 16)
    files["png_palette.png"] = png_bytes(indices, 3, 8, palette=palette)
    files["png_palette4_trns.png"] = png_bytes(indices, 3, 4, palette=palette, trns=bytes(range(0, 256, 32)))
    files["png_rgb8.png"] = png_bytes(rgb8, 2, 8)
    files["png_rgb16.png"] = png_bytes(rgb16, 2, 16)
    files["png_rgb_trns.png"] = png_bytes(rgb8, 2, 8, trns=struct.pack(">HHH", *map(int, rgb8[0, 0])))
    files["png_rgba8.png"] = png_bytes(np.concatenate([rgb8, alpha8], -1), 6, 8)
    files["png_rgba16.png"] = png_bytes(np.concatenate([rgb16, alpha16], -1), 6, 16)
    files["png_rgb8_interlaced.png"] = png_bytes(rgb8, 2, 8, interlace=True)
    files["png_gray16_interlaced.png"] = png_bytes(gray16, 0, 16, interlace=True)

    def jpeg(image, **options):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", **options)
        return buffer.getvalue()

    photo = Image.fromarray(pattern(120, 160, 3))
    files["jpeg_baseline.jpg"] = jpeg(Image.fromarray(rgb8), quality=90)
    files["jpeg_444.jpg"] = jpeg(Image.fromarray(rgb8), quality=95, subsampling=0)
    files["jpeg_progressive.jpg"] = jpeg(Image.fromarray(rgb8), quality=85, progressive=True)
    files["jpeg_gray.jpg"] = jpeg(Image.fromarray(gray8[..., 0]), quality=90)
    cmyk = Image.frombytes("CMYK", (w, h), np.concatenate([rgb8, alpha8], -1).tobytes())
    files["jpeg_cmyk.jpg"] = jpeg(cmyk, quality=90)
    files["photo.jpg"] = jpeg(photo, quality=90)

    manifest = {"pil": PIL.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                "images": [], "transforms": []}
    warnings.simplefilter("ignore")  # PIL's advice to convert palette images with tRNS to RGBA
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        image = Image.open(io.BytesIO(data))
        entry = {"file": name, "pil_mode": image.mode, "width": image.width, "height": image.height}
        for mode in ("RGB", "L"):
            pixels = np.asarray(image.convert(mode), dtype=np.uint8)
            pixels.tofile(os.path.join(OUT, f"{name}.{mode}.u8"))
        manifest["images"].append(entry)

    def tensor_file(name, tensor):
        """ToTensor's floats are byte / 255 in float32: store the bytes, check they give the floats."""
        values = torch.round(tensor * 255).to(torch.uint8)
        assert torch.equal(values.float() / 255, tensor), name
        values.numpy().tofile(os.path.join(OUT, name))
        return name

    # torchvision's evaluation transform at several sizes (downscale, upscale, gray), and
    # resized_crop at fixed boxes (what RandomResizedCrop does once its box is drawn), some
    # shrinking the height much more than the width (Pillow 13 then resizes vertically first).
    cases = [("png_rgb8.png", "RGB", 16), ("jpeg_baseline.jpg", "RGB", 24), ("png_gray16.png", "L", 16),
             ("photo.jpg", "RGB", 64), ("photo.jpg", "L", 224), ("photo.jpg", "L", 96), ("photo.jpg", "RGB", 32)]
    for file, mode, size in cases:
        image = Image.open(io.BytesIO(files[file])).convert(mode)
        resize = round(size / 0.875)
        out = T.Compose([T.Resize(resize), T.CenterCrop(size), T.ToTensor()])(image)
        name = tensor_file(f"{file}.eval{size}.{mode}.u8", out)
        manifest["transforms"].append({"file": file, "mode": mode, "kind": "eval", "size": size, "resize": resize,
                                       "output": name})
    for file, mode, box, size in [("photo.jpg", "RGB", (10, 20, 100, 80), 64), ("photo.jpg", "RGB", (0, 0, 120, 160), 32),
                                  ("photo.jpg", "RGB", (5, 7, 30, 40), 64), ("photo.jpg", "L", (33, 41, 77, 101), 48),
                                  ("photo.jpg", "RGB", (0, 5, 120, 30), 24)]:
        image = Image.open(io.BytesIO(files[file])).convert(mode)
        top, left, height, width = box
        out = F.to_tensor(F.resized_crop(image, top, left, height, width, [size, size],
                                         interpolation=T.InterpolationMode.BILINEAR, antialias=True))
        name = tensor_file(f"{file}.crop{top}_{left}_{height}_{width}_{size}.{mode}.u8", out)
        manifest["transforms"].append({"file": file, "mode": mode, "kind": "resized_crop", "size": size,
                                       "box": list(box), "output": name})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1024:.0f} KB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
