#!/usr/bin/env python3
"""A copy of the venv's ONNX Runtime that runs its AVX2 kernels on an AVX-512 machine.

ONNX Runtime picks its kernels from `cpuid` and `xgetbv` once, at load, and has no switch to
override them. This copies the onnxruntime package to OUT, replaces every `cpuid` and `xgetbv` in
its Python extension by `ud2` (found with objdump, each site's bytes checked), and builds
benchmarks/hide_avx512.c, which, preloaded, traps those and answers as a CPU without AVX-512.
Then on the same cores isp's AVX2 path (`ISP_ISA=avx2`) meets ONNX Runtime's AVX2 path, the
comparison of an AVX2-only machine (issue 18). Only the copy is patched.

    python benchmarks/ort_avx2.py OUT     # the peers' venv's python; prints the environment to run a peer under
    env $(python benchmarks/ort_avx2.py OUT --env) python benchmarks/peers.py ...
"""
import argparse, os, re, shutil, struct, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_segments(path):
    """(vaddr, offset, filesz) of each PT_LOAD of a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            sys.exit(f"{path}: not a 64-bit little-endian ELF file")
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segments = []
    for i in range(phnum):
        kind, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if kind == 1:
            segments.append((vaddr, offset, filesz))
    return segments


def sites(path):
    """(kind, vaddr) of every cpuid and xgetbv instruction objdump finds in the file."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True).stdout
    return [(m.group(2), int(m.group(1), 16)) for m in re.finditer(r"^\s*([0-9a-f]+):\s+(cpuid|xgetbv)\s*$", listing, re.M)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="directory for the patched package, the sites file and the preload library")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter whose onnxruntime is copied (default: the one running this script)")
    ap.add_argument("--env", action="store_true", help="only print the environment (after making OUT if needed)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    env = {"PYTHONPATH": out, "HIDE_AVX512_SITES": os.path.join(out, "sites.txt"),
           "LD_PRELOAD": os.path.join(out, "hide_avx512.so")}
    if not os.path.exists(env["LD_PRELOAD"]):
        source = subprocess.run([a.python, "-c", "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        package = os.path.join(out, "onnxruntime")
        if os.path.exists(package):
            sys.exit(f"{package}: exists without {env['LD_PRELOAD']}; remove OUT and run again")
        shutil.copytree(source, package)
        capi = os.path.join(package, "capi")
        names = [n for n in os.listdir(capi) if n.startswith("onnxruntime_pybind11_state") and n.endswith(".so")]
        if len(names) != 1:
            sys.exit(f"{capi}: expected one onnxruntime_pybind11_state*.so, found {names}")
        lib = os.path.join(capi, names[0])
        found = sites(lib)
        if not found:
            sys.exit(f"{lib}: no cpuid or xgetbv found")
        segments = load_segments(lib)
        expected = {"cpuid": b"\x0f\xa2", "xgetbv": b"\x0f\x01\xd0"}
        patch = {"cpuid": b"\x0f\x0b", "xgetbv": b"\x0f\x0b\x90"}  # ud2 (and a nop for xgetbv's third byte)
        with open(lib, "r+b") as f:
            for kind, vaddr in found:
                seg = [s for s in segments if s[0] <= vaddr < s[0] + s[2]]
                if not seg:
                    sys.exit(f"{lib}: {kind} at {vaddr:#x} outside every loaded segment")
                offset = vaddr - seg[0][0] + seg[0][1]
                f.seek(offset)
                if f.read(len(expected[kind])) != expected[kind]:
                    sys.exit(f"{lib}: the bytes at {vaddr:#x} are not {kind}")
                f.seek(offset)
                f.write(patch[kind])
        with open(env["HIDE_AVX512_SITES"], "w") as f:
            f.write(names[0] + "\n")
            for kind, vaddr in found:
                f.write(f"{kind} {vaddr:x}\n")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", os.path.join(HERE, "hide_avx512.c"), "-o", env["LD_PRELOAD"], "-ldl"],
                       check=True)
        print(f"patched {len(found)} sites of {lib}", file=sys.stderr)
    print(" ".join(f"{k}={v}" for k, v in env.items()))


if __name__ == "__main__":
    main()
